//! The `process` probe on Windows: running processes by executable name (Toolhelp snapshot).

use vt_policy::probe::Probe;
use vt_policy::{Observation, Value};
use windows_sys::Win32::Foundation::{CloseHandle, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Process32FirstW, Process32NextW, PROCESSENTRY32W, TH32CS_SNAPPROCESS,
};

use super::name_glob;
use super::win::{api_error, from_wide_buf, last_error};
use crate::probes::{error, ProbeResult};

/// Every running process's executable name ("svchost.exe"), one entry per process.
fn process_names() -> Result<Vec<String>, crate::probes::ProbeFailure> {
    // SAFETY: no preconditions; the snapshot handle is closed below.
    let snap = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) };
    if snap == INVALID_HANDLE_VALUE {
        return Err(api_error("process snapshot", last_error()));
    }
    let mut names = Vec::new();
    let mut entry = PROCESSENTRY32W {
        dwSize: std::mem::size_of::<PROCESSENTRY32W>() as u32,
        ..Default::default()
    };
    // SAFETY: `snap` is a process snapshot and `entry.dwSize` is set as the API requires.
    let mut more = unsafe { Process32FirstW(snap, &mut entry) } != 0;
    while more {
        names.push(from_wide_buf(&entry.szExeFile));
        // SAFETY: as above.
        more = unsafe { Process32NextW(snap, &mut entry) } != 0;
    }
    // SAFETY: `snap` came from CreateToolhelp32Snapshot.
    unsafe { CloseHandle(snap) };
    Ok(names)
}

pub fn observe(probe: &Probe) -> ProbeResult {
    let pattern = probe.arg_text();
    let matcher = name_glob(&pattern).map_err(error)?;
    // "notepad" also finds "notepad.exe": policies often omit the extension.
    let with_exe = if pattern.to_ascii_lowercase().ends_with(".exe") {
        None
    } else {
        name_glob(&format!("{pattern}.exe")).ok()
    };
    let mut values: Vec<Value> = process_names()?
        .into_iter()
        .filter(|n| matcher.is_match(n) || with_exe.as_ref().is_some_and(|m| m.is_match(n)))
        .map(Value::Text)
        .collect();
    values.sort_by_key(|v| v.to_string().to_lowercase());
    Ok(Observation::list_or_missing(values))
}
