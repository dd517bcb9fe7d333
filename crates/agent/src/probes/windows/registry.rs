//! The `registry` probe, plus the small safe registry wrapper the other probes share
//! (installed software, firewall, os).

use vt_policy::probe::{registry_hive, Probe};
use vt_policy::{Observation, Value};
use windows_sys::Win32::Foundation::{
    ERROR_FILE_NOT_FOUND, ERROR_MORE_DATA, ERROR_NO_MORE_ITEMS, ERROR_PATH_NOT_FOUND, ERROR_SUCCESS,
};
use windows_sys::Win32::System::Environment::ExpandEnvironmentStringsW;
use windows_sys::Win32::System::Registry::{
    RegCloseKey, RegEnumKeyExW, RegOpenKeyExW, RegQueryValueExW, HKEY, HKEY_CLASSES_ROOT,
    HKEY_CURRENT_CONFIG, HKEY_CURRENT_USER, HKEY_LOCAL_MACHINE, HKEY_USERS, KEY_ENUMERATE_SUB_KEYS,
    KEY_QUERY_VALUE, KEY_WOW64_32KEY, KEY_WOW64_64KEY,
};

use super::regvalue::{self, RegData};
use super::win::{api_error_text, from_wide_buf, wide};
use crate::probes::{error, ProbeResult};

/// Which registry view to open: 64-bit keys, or the 32-bit (WOW6432Node) redirected ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Bits64,
    Bits32,
}

impl View {
    fn flag(self) -> u32 {
        match self {
            View::Bits64 => KEY_WOW64_64KEY,
            View::Bits32 => KEY_WOW64_32KEY,
        }
    }
}

/// An open key, closed on drop.
pub struct Key {
    handle: HKEY,
    /// For error messages.
    path: String,
}

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: `handle` came from RegOpenKeyExW and is closed exactly once.
        unsafe { RegCloseKey(self.handle) };
    }
}

fn hive_handle(hive: &str) -> Option<HKEY> {
    Some(match hive {
        "HKLM" => HKEY_LOCAL_MACHINE,
        "HKCU" => HKEY_CURRENT_USER,
        "HKU" => HKEY_USERS,
        "HKCR" => HKEY_CLASSES_ROOT,
        "HKCC" => HKEY_CURRENT_CONFIG,
        _ => return None,
    })
}

fn not_found(code: u32) -> bool {
    code == ERROR_FILE_NOT_FOUND || code == ERROR_PATH_NOT_FOUND
}

impl Key {
    /// Opens `HIVE\sub\key` read-only; `Ok(None)` when it does not exist.
    pub fn open(full_path: &str, view: View) -> Result<Option<Key>, String> {
        let (hive, sub) = registry_hive(full_path)
            .ok_or_else(|| format!("registry path {full_path:?} has no known hive"))?;
        let root = hive_handle(hive).ok_or_else(|| format!("unsupported hive {hive}"))?;
        let sub = sub.replace('/', "\\");
        let sub = sub.trim_matches('\\');
        let w = wide(sub);
        let mut handle: HKEY = std::ptr::null_mut();
        // SAFETY: `w` is NUL-terminated and `handle` is a valid out-pointer.
        let rc = unsafe {
            RegOpenKeyExW(
                root,
                w.as_ptr(),
                0,
                KEY_QUERY_VALUE | KEY_ENUMERATE_SUB_KEYS | view.flag(),
                &mut handle,
            )
        };
        match rc {
            ERROR_SUCCESS => Ok(Some(Key {
                handle,
                path: format!("{hive}\\{sub}"),
            })),
            code if not_found(code) => Ok(None),
            code => Err(api_error_text(&format!("registry {hive}\\{sub}"), code)),
        }
    }

    /// A value's type and raw bytes; `Ok(None)` when the value does not exist. An empty
    /// name reads the key's default value.
    pub fn raw_value(&self, name: &str) -> Result<Option<(u32, Vec<u8>)>, String> {
        let w = wide(name);
        let mut buf: Vec<u8> = vec![0; 512];
        loop {
            let mut kind = 0u32;
            let mut len = buf.len() as u32;
            // SAFETY: `buf` is valid for `len` bytes; the function writes at most that many
            // or reports ERROR_MORE_DATA with the size it needs.
            let rc = unsafe {
                RegQueryValueExW(
                    self.handle,
                    w.as_ptr(),
                    std::ptr::null(),
                    &mut kind,
                    buf.as_mut_ptr(),
                    &mut len,
                )
            };
            match rc {
                ERROR_SUCCESS => {
                    buf.truncate(len as usize);
                    return Ok(Some((kind, buf)));
                }
                // The value can grow between calls, hence the loop.
                ERROR_MORE_DATA => buf.resize(len as usize + 2, 0),
                code if not_found(code) => return Ok(None),
                code => return Err(api_error_text(&format!("registry {}\\{name}", self.path), code)),
            }
        }
    }

    /// A value decoded (REG_EXPAND_SZ expanded); `Ok(None)` when absent.
    pub fn value(&self, name: &str) -> Result<Option<RegData>, String> {
        let Some((kind, bytes)) = self.raw_value(name)? else {
            return Ok(None);
        };
        let data =
            regvalue::decode(kind, &bytes).map_err(|e| format!("registry {}\\{name}: {e}", self.path))?;
        Ok(Some(match data {
            RegData::Expandable(s) => RegData::Text(expand_env(&s)),
            other => other,
        }))
    }

    /// A REG_DWORD/REG_QWORD value; `Ok(None)` when absent or not an integer (the
    /// registry holds what writers put there, and a mistyped value is not a setting).
    pub fn int(&self, name: &str) -> Result<Option<i64>, String> {
        Ok(match self.value(name)? {
            Some(RegData::Int(i)) => Some(i),
            _ => None,
        })
    }

    /// A string value (REG_SZ or expanded REG_EXPAND_SZ); `Ok(None)` when absent or not text.
    pub fn text(&self, name: &str) -> Result<Option<String>, String> {
        Ok(match self.value(name)? {
            Some(RegData::Text(s)) => Some(s),
            _ => None,
        })
    }

    /// The names of the direct subkeys, in registry order.
    pub fn subkeys(&self) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        // Key names are at most 255 characters.
        let mut name = [0u16; 256];
        for index in 0u32.. {
            let mut len = name.len() as u32;
            // SAFETY: `name` is valid for `len` units; the optional outputs are null.
            let rc = unsafe {
                RegEnumKeyExW(
                    self.handle,
                    index,
                    name.as_mut_ptr(),
                    &mut len,
                    std::ptr::null(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
            match rc {
                ERROR_SUCCESS => out.push(from_wide_buf(&name[..len as usize])),
                ERROR_NO_MORE_ITEMS => break,
                code => return Err(api_error_text(&format!("registry {}", self.path), code)),
            }
        }
        Ok(out)
    }
}

/// Expands `%VAR%` with the process environment through `ExpandEnvironmentStringsW`, the
/// function every Windows reader of REG_EXPAND_SZ uses; falls back to the same rule in Rust
/// if the call fails.
pub fn expand_env(text: &str) -> String {
    let src = wide(text);
    let mut buf = vec![0u16; src.len().max(260)];
    for _ in 0..3 {
        // SAFETY: `src` is NUL-terminated, `buf` is valid for `buf.len()` units.
        let needed =
            unsafe { ExpandEnvironmentStringsW(src.as_ptr(), buf.as_mut_ptr(), buf.len() as u32) } as usize;
        if needed == 0 {
            break;
        }
        if needed <= buf.len() {
            return from_wide_buf(&buf[..needed]);
        }
        buf.resize(needed, 0);
    }
    regvalue::expand_percent_vars(text, |name| std::env::var(name).ok())
}

fn data_observation(data: RegData) -> Observation {
    match data {
        RegData::Int(i) => Observation::Scalar(Value::Int(i)),
        RegData::BigUnsigned(u) => Observation::text(u.to_string()),
        RegData::Text(s) | RegData::Expandable(s) | RegData::Hex(s) => Observation::text(s),
        RegData::List(items) => Observation::List(items.into_iter().map(Value::Text).collect()),
    }
}

pub fn observe(probe: &Probe) -> ProbeResult {
    let path = probe.arg_text();
    let view = match probe.text_param("view") {
        Some("32") => View::Bits32,
        _ => View::Bits64,
    };
    let value_name = probe.text_param("value");
    let property = probe
        .property()
        .unwrap_or(if value_name.is_some() { "data" } else { "exists" });
    let Some(key) = Key::open(&path, view).map_err(error)? else {
        return Ok(Observation::Missing);
    };
    match (property, value_name) {
        ("subkeys", _) => Ok(Observation::List(
            key.subkeys()
                .map_err(error)?
                .into_iter()
                .map(Value::Text)
                .collect(),
        )),
        ("exists", None) => Ok(Observation::Scalar(Value::Bool(true))),
        ("exists", Some(name)) => Ok(match key.raw_value(name).map_err(error)? {
            Some(_) => Observation::Scalar(Value::Bool(true)),
            None => Observation::Missing,
        }),
        ("type", Some(name)) => Ok(match key.raw_value(name).map_err(error)? {
            Some((kind, _)) => Observation::text(regvalue::type_name(kind)),
            None => Observation::Missing,
        }),
        ("data", Some(name)) => Ok(key
            .value(name)
            .map_err(error)?
            .map(data_observation)
            .unwrap_or(Observation::Missing)),
        (prop, None) => Err(error(format!("registry property {prop:?} needs a `value:`"))),
        (prop, Some(_)) => Err(error(format!("unknown registry property {prop:?}"))),
    }
}
