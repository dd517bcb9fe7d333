//! Small helpers shared by the Win32 probes: UTF-16 strings, error codes and SIDs.

use std::ffi::OsStr;
use std::os::windows::ffi::OsStrExt;

use windows_sys::Win32::Foundation::{
    GetLastError, LocalFree, ERROR_ACCESS_DENIED, ERROR_CALL_NOT_IMPLEMENTED,
};
use windows_sys::Win32::Security::Authorization::{ConvertSidToStringSidW, ConvertStringSidToSidW};
use windows_sys::Win32::Security::{LookupAccountSidW, PSID, SID_NAME_USE};

use crate::probes::{error, ProbeFailure};

/// A NUL-terminated UTF-16 copy of `s` for `PCWSTR` parameters.
pub fn wide(s: &str) -> Vec<u16> {
    OsStr::new(s).encode_wide().chain(std::iter::once(0)).collect()
}

/// Reads a NUL-terminated UTF-16 string.
///
/// # Safety
/// `p` must be null or point to a NUL-terminated UTF-16 string that stays valid for the call.
pub unsafe fn from_wide_ptr(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut len = 0usize;
    // SAFETY: the caller guarantees a terminator, so every read up to it is in bounds.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units were just read from this allocation.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A UTF-16 buffer up to its first NUL.
pub fn from_wide_buf(buf: &[u16]) -> String {
    let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    String::from_utf16_lossy(&buf[..end])
}

pub fn last_error() -> u32 {
    // SAFETY: reads this thread's last-error value; no preconditions.
    unsafe { GetLastError() }
}

/// The system's message for a Win32 error code.
pub fn message(code: u32) -> String {
    // NetAPI status codes (2100-2999, lmerr.h) have no system message text, so
    // FormatMessage fails for them; name the common ones instead.
    match code {
        2140 => "internal Windows error (NERR_InternalError)".into(),
        2220 => "the group does not exist (NERR_GroupNotFound)".into(),
        2221 => "the user does not exist (NERR_UserNotFound)".into(),
        2100..=2999 => format!("network management error {code} (lmerr.h)"),
        _ => std::io::Error::from_raw_os_error(code as i32).to_string(),
    }
}

/// The probe error for a failed call: access denied says what is needed, "not
/// implemented" says where that usually comes from, everything else gives the system text.
pub fn api_error(what: &str, code: u32) -> ProbeFailure {
    error(api_error_text(what, code))
}

pub fn api_error_text(what: &str, code: u32) -> String {
    match code {
        ERROR_ACCESS_DENIED => format!("{what}: access denied (requires Administrator)"),
        ERROR_CALL_NOT_IMPLEMENTED | 50 /* ERROR_NOT_SUPPORTED */ => {
            format!("{what}: not available on this system ({}; Wine does not implement it)", message(code))
        }
        _ => format!("{what}: {} (error {code})", message(code)),
    }
}

/// An NTSTATUS failure (SAM/LSA calls) as a probe error text.
pub fn ntstatus_text(what: &str, status: i32) -> String {
    match status as u32 {
        0xC000_0022 => format!("{what}: access denied (requires Administrator)"),
        0xC000_0002 | 0xC000_00BB => format!(
            "{what}: not available on this system (NTSTATUS 0x{:08X}; Wine does not implement it)",
            status as u32
        ),
        other => format!("{what}: failed with NTSTATUS 0x{other:08X}"),
    }
}

/// A SID parsed from "S-1-5-32-544", freed on drop.
pub struct OwnedSid(PSID);

impl OwnedSid {
    pub fn parse(text: &str) -> Result<OwnedSid, String> {
        let w = wide(text);
        let mut sid: PSID = std::ptr::null_mut();
        // SAFETY: `w` is NUL-terminated; on success the function allocates the SID with
        // LocalAlloc and stores it in `sid`, which Drop frees with LocalFree.
        let ok = unsafe { ConvertStringSidToSidW(w.as_ptr(), &mut sid) };
        if ok == 0 {
            return Err(format!("invalid SID {text:?}: {}", message(last_error())));
        }
        Ok(OwnedSid(sid))
    }

    pub fn as_ptr(&self) -> PSID {
        self.0
    }
}

impl Drop for OwnedSid {
    fn drop(&mut self) {
        // SAFETY: the pointer came from ConvertStringSidToSidW, which documents LocalFree.
        unsafe { LocalFree(self.0) };
    }
}

/// "S-1-5-..." for a SID.
///
/// # Safety
/// `sid` must point to a valid SID.
pub unsafe fn sid_to_string(sid: PSID) -> Option<String> {
    let mut out: *mut u16 = std::ptr::null_mut();
    // SAFETY: the caller guarantees `sid`; the function allocates `out` with LocalAlloc.
    if unsafe { ConvertSidToStringSidW(sid, &mut out) } == 0 {
        return None;
    }
    // SAFETY: on success `out` is a NUL-terminated string we own until LocalFree.
    let text = unsafe { from_wide_ptr(out) };
    // SAFETY: `out` was allocated by ConvertSidToStringSidW.
    unsafe { LocalFree(out.cast()) };
    Some(text)
}

/// The account name of a SID on this machine, as (domain, name).
///
/// # Safety
/// `sid` must point to a valid SID.
pub unsafe fn lookup_sid(sid: PSID) -> Result<(String, String), u32> {
    let mut name = vec![0u16; 256];
    let mut domain = vec![0u16; 256];
    loop {
        let mut name_len = name.len() as u32;
        let mut domain_len = domain.len() as u32;
        let mut use_: SID_NAME_USE = 0;
        // SAFETY: the buffers are valid for the lengths passed; the function writes at most
        // that many units or reports the sizes it needs.
        let ok = unsafe {
            LookupAccountSidW(
                std::ptr::null(),
                sid,
                name.as_mut_ptr(),
                &mut name_len,
                domain.as_mut_ptr(),
                &mut domain_len,
                &mut use_,
            )
        };
        if ok != 0 {
            return Ok((from_wide_buf(&domain), from_wide_buf(&name)));
        }
        let code = last_error();
        // ERROR_INSUFFICIENT_BUFFER: grow to the reported sizes once and retry.
        if code == 122 && (name_len as usize > name.len() || domain_len as usize > domain.len()) {
            name.resize(name_len as usize + 1, 0);
            domain.resize(domain_len as usize + 1, 0);
            continue;
        }
        return Err(code);
    }
}

/// Looks up a function exported by a system DLL at run time. Used for APIs that some
/// systems lack (Wine has no `AuditFree`, for instance): a static import of a missing
/// function would stop the whole agent from loading, where this only fails one probe.
pub fn system_proc(dll: &str, name: &std::ffi::CStr) -> Option<unsafe extern "system" fn() -> isize> {
    use windows_sys::Win32::System::LibraryLoader::{
        GetProcAddress, LoadLibraryExW, LOAD_LIBRARY_SEARCH_SYSTEM32,
    };
    let w = wide(dll);
    // SAFETY: `w` is NUL-terminated; loading from System32 only avoids DLL planting. The
    // module stays loaded for the life of the process, so the returned pointer stays valid.
    let module = unsafe { LoadLibraryExW(w.as_ptr(), std::ptr::null_mut(), LOAD_LIBRARY_SEARCH_SYSTEM32) };
    if module.is_null() {
        return None;
    }
    // SAFETY: `module` is loaded and `name` is NUL-terminated.
    unsafe { GetProcAddress(module, name.as_ptr().cast()) }
}

/// True under Wine (its ntdll exports `wine_get_version`). Wine exports some functions as
/// stubs that abort the whole process when called (samlib's SamConnect in Wine 8), so the
/// few calls known to be such stubs are skipped there with an error instead.
pub fn running_under_wine() -> bool {
    system_proc("ntdll.dll", c"wine_get_version").is_some()
}
