//! The `service` probe: state and start type from the Service Control Manager.

use vt_policy::probe::Probe;
use vt_policy::{Observation, Value};
use windows_sys::Win32::Foundation::{
    ERROR_INSUFFICIENT_BUFFER, ERROR_MORE_DATA, ERROR_SERVICE_DOES_NOT_EXIST,
};
use windows_sys::Win32::System::Services::{
    CloseServiceHandle, EnumServicesStatusExW, OpenSCManagerW, OpenServiceW, QueryServiceConfig2W,
    QueryServiceConfigW, QueryServiceStatus, ENUM_SERVICE_STATUS_PROCESSW, QUERY_SERVICE_CONFIGW,
    SC_ENUM_PROCESS_INFO, SC_HANDLE, SC_MANAGER_CONNECT, SC_MANAGER_ENUMERATE_SERVICE,
    SERVICE_CONFIG_DELAYED_AUTO_START_INFO, SERVICE_DELAYED_AUTO_START_INFO, SERVICE_QUERY_CONFIG,
    SERVICE_QUERY_STATUS, SERVICE_STATE_ALL, SERVICE_STATUS, SERVICE_WIN32,
};

use super::name_glob;
use super::svcstate::{is_pattern, start_type_name, state_name};
use super::win::{api_error, from_wide_ptr, last_error, wide};
use crate::probes::{error, ProbeFailure, ProbeResult};

/// An SCM or service handle, closed on drop.
struct Handle(SC_HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from OpenSCManagerW/OpenServiceW and is closed once.
        unsafe { CloseServiceHandle(self.0) };
    }
}

/// RPC_S_CALL_FAILED_DNE: the SCM's RPC endpoint was busy (seen under Wine with several
/// rules querying at once); the call did not execute, so it is safe to repeat.
const RPC_S_CALL_FAILED_DNE: u32 = 1727;

fn connect() -> Result<Handle, ProbeFailure> {
    let mut attempt = 0;
    loop {
        match connect_once() {
            Err(code) if code == RPC_S_CALL_FAILED_DNE && attempt < 3 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(100 * attempt));
            }
            Err(code) => return Err(api_error("Service Control Manager", code)),
            Ok(h) => return Ok(h),
        }
    }
}

fn connect_once() -> Result<Handle, u32> {
    // SAFETY: null machine and database names mean the local active database.
    let h = unsafe {
        OpenSCManagerW(
            std::ptr::null(),
            std::ptr::null(),
            SC_MANAGER_CONNECT | SC_MANAGER_ENUMERATE_SERVICE,
        )
    };
    if h.is_null() {
        return Err(last_error());
    }
    Ok(Handle(h))
}

fn open(scm: &Handle, name: &str) -> Result<Option<Handle>, ProbeFailure> {
    let w = wide(name);
    // SAFETY: `scm` is open and `w` is NUL-terminated.
    let h = unsafe { OpenServiceW(scm.0, w.as_ptr(), SERVICE_QUERY_STATUS | SERVICE_QUERY_CONFIG) };
    if h.is_null() {
        let code = last_error();
        // ERROR_INVALID_NAME (123) also means no service can have that name.
        if code == ERROR_SERVICE_DOES_NOT_EXIST || code == 123 {
            return Ok(None);
        }
        return Err(api_error(&format!("service {name}"), code));
    }
    Ok(Some(Handle(h)))
}

fn state(svc: &Handle, name: &str) -> Result<String, ProbeFailure> {
    let mut status: SERVICE_STATUS = SERVICE_STATUS::default();
    // SAFETY: `svc` was opened with SERVICE_QUERY_STATUS; `status` is a valid out-pointer.
    if unsafe { QueryServiceStatus(svc.0, &mut status) } == 0 {
        return Err(api_error(&format!("service {name}"), last_error()));
    }
    Ok(state_name(status.dwCurrentState))
}

fn start_type(svc: &Handle, name: &str) -> Result<String, ProbeFailure> {
    // QUERY_SERVICE_CONFIGW is followed by its strings in the same buffer; u64 elements
    // keep the buffer aligned for the struct's pointers.
    let mut buf: Vec<u64> = vec![0; 128];
    loop {
        let mut needed = 0u32;
        let bytes = (buf.len() * 8) as u32;
        // SAFETY: `buf` is valid and aligned for `bytes` bytes.
        let ok = unsafe {
            QueryServiceConfigW(
                svc.0,
                buf.as_mut_ptr().cast::<QUERY_SERVICE_CONFIGW>(),
                bytes,
                &mut needed,
            )
        };
        if ok != 0 {
            break;
        }
        let code = last_error();
        if code == ERROR_INSUFFICIENT_BUFFER && needed > bytes {
            buf.resize((needed as usize).div_ceil(8), 0);
            continue;
        }
        return Err(api_error(&format!("service {name}"), code));
    }
    // SAFETY: the call succeeded, so the buffer starts with an initialised config struct.
    let start = unsafe { (*buf.as_ptr().cast::<QUERY_SERVICE_CONFIGW>()).dwStartType };
    let mut delayed = SERVICE_DELAYED_AUTO_START_INFO::default();
    let mut needed = 0u32;
    // SAFETY: `delayed` is a valid buffer of exactly the size passed.
    let ok = unsafe {
        QueryServiceConfig2W(
            svc.0,
            SERVICE_CONFIG_DELAYED_AUTO_START_INFO,
            (&mut delayed as *mut SERVICE_DELAYED_AUTO_START_INFO).cast(),
            std::mem::size_of::<SERVICE_DELAYED_AUTO_START_INFO>() as u32,
            &mut needed,
        )
    };
    // Systems without the delayed-start setting (Wine) simply have no delayed services.
    let is_delayed = ok != 0 && delayed.fDelayedAutostart != 0;
    Ok(start_type_name(start, is_delayed))
}

fn property(scm: &Handle, name: &str, prop: &str) -> Result<Option<Value>, ProbeFailure> {
    let Some(svc) = open(scm, name)? else {
        return Ok(None);
    };
    let text = match prop {
        "start_type" => start_type(&svc, name)?,
        _ => state(&svc, name)?,
    };
    Ok(Some(Value::Text(text)))
}

/// Every Win32 service name, sorted case-insensitively.
fn all_services(scm: &Handle) -> Result<Vec<String>, ProbeFailure> {
    let mut names = Vec::new();
    let mut resume = 0u32;
    let mut buf: Vec<u64> = vec![0; 8 * 1024];
    loop {
        let mut needed = 0u32;
        let mut count = 0u32;
        let bytes = (buf.len() * 8) as u32;
        // SAFETY: `buf` is valid and aligned for `bytes` bytes; the outputs are valid pointers.
        let ok = unsafe {
            EnumServicesStatusExW(
                scm.0,
                SC_ENUM_PROCESS_INFO,
                SERVICE_WIN32,
                SERVICE_STATE_ALL,
                buf.as_mut_ptr().cast(),
                bytes,
                &mut needed,
                &mut count,
                &mut resume,
                std::ptr::null(),
            )
        };
        let code = if ok == 0 { last_error() } else { 0 };
        if ok == 0 && code != ERROR_MORE_DATA {
            return Err(api_error("enumerating services", code));
        }
        let entries = buf.as_ptr().cast::<ENUM_SERVICE_STATUS_PROCESSW>();
        for i in 0..count as usize {
            // SAFETY: the call reported `count` initialised entries at the buffer start, and
            // their name pointers point into the same buffer.
            names.push(unsafe { from_wide_ptr((*entries.add(i)).lpServiceName) });
        }
        if ok != 0 {
            break;
        }
        if count == 0 {
            // Nothing fitted: grow to what the SCM asked for and try again.
            buf.resize((needed as usize).div_ceil(8).max(buf.len() * 2), 0);
        }
    }
    names.sort_by_key(|n| n.to_lowercase());
    Ok(names)
}

pub fn observe(probe: &Probe) -> ProbeResult {
    let name = probe.arg_text();
    let prop = probe.property().unwrap_or("state");
    let scm = connect()?;
    if !is_pattern(&name) {
        return Ok(property(&scm, &name, prop)?
            .map(Observation::Scalar)
            .unwrap_or(Observation::Missing));
    }
    let matcher = name_glob(&name).map_err(error)?;
    let mut values = Vec::new();
    for svc in all_services(&scm)?.iter().filter(|n| matcher.is_match(n)) {
        // A service deleted between the listing and the query is simply gone.
        if let Some(v) = property(&scm, svc, prop)? {
            values.push(v);
        }
    }
    Ok(Observation::list_or_missing(values))
}
