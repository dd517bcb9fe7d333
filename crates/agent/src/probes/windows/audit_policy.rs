//! The `audit_policy` probe: advanced audit subcategory settings through
//! `AuditQuerySystemPolicy`, for all subcategories at once, once per run.

use std::collections::HashMap;

use vt_policy::probe::Probe;
use vt_policy::Observation;
use windows_sys::core::GUID;
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, LUID};
use windows_sys::Win32::Security::Authentication::Identity::AUDIT_POLICY_INFORMATION;
use windows_sys::Win32::Security::{
    AdjustTokenPrivileges, LookupPrivilegeValueW, LUID_AND_ATTRIBUTES, SE_PRIVILEGE_ENABLED,
    SE_SECURITY_NAME, TOKEN_ADJUST_PRIVILEGES, TOKEN_PRIVILEGES, TOKEN_QUERY,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::auditpol::{find, setting_text, GUID_DATA2, GUID_DATA3, GUID_DATA4, SUBCATEGORIES};
use super::win::{api_error_text, last_error, system_proc};
use crate::context::HostContext;
use crate::probes::{error, ProbeResult};

type QueryFn = unsafe extern "system" fn(*const GUID, u32, *mut *mut AUDIT_POLICY_INFORMATION) -> u8;
type FreeFn = unsafe extern "system" fn(*const core::ffi::c_void);
type RawProc = unsafe extern "system" fn() -> isize;

/// Subcategory GUID first field → AuditingInformation, or why it could not be read.
struct AuditPolicy(Result<HashMap<u32, u32>, String>);

/// AuditQuerySystemPolicy needs SeSecurityPrivilege, which Administrators and SYSTEM hold
/// but which is disabled in their tokens until enabled. Best effort: without it the query
/// itself fails with access denied, which is reported.
fn enable_security_privilege() {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the pseudo handle of the current process needs no closing; `token` is an out-pointer.
    if unsafe {
        OpenProcessToken(
            GetCurrentProcess(),
            TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY,
            &mut token,
        )
    } == 0
    {
        return;
    }
    let mut luid = LUID::default();
    // SAFETY: SE_SECURITY_NAME is a static NUL-terminated string; `luid` is an out-pointer.
    if unsafe { LookupPrivilegeValueW(std::ptr::null(), SE_SECURITY_NAME, &mut luid) } != 0 {
        let tp = TOKEN_PRIVILEGES {
            PrivilegeCount: 1,
            Privileges: [LUID_AND_ATTRIBUTES {
                Luid: luid,
                Attributes: SE_PRIVILEGE_ENABLED,
            }],
        };
        // SAFETY: `token` was opened with TOKEN_ADJUST_PRIVILEGES; `tp` is a complete structure.
        unsafe { AdjustTokenPrivileges(token, 0, &tp, 0, std::ptr::null_mut(), std::ptr::null_mut()) };
    }
    // SAFETY: `token` came from OpenProcessToken.
    unsafe { CloseHandle(token) };
}

fn load() -> AuditPolicy {
    AuditPolicy(query_all())
}

fn query_all() -> Result<HashMap<u32, u32>, String> {
    // Both are resolved at run time: Wine's advapi32 has no AuditFree, and a static import
    // would keep the agent from starting at all there.
    let missing = |name: &str| {
        format!("advapi32.dll has no {name}: the audit policy API is not available on this system")
    };
    let query = system_proc("advapi32.dll", c"AuditQuerySystemPolicy")
        .ok_or_else(|| missing("AuditQuerySystemPolicy"))?;
    let free = system_proc("advapi32.dll", c"AuditFree").ok_or_else(|| missing("AuditFree"))?;
    // SAFETY: the pointers are those exports, with the ntsecapi.h signatures cast to.
    let query: QueryFn = unsafe { std::mem::transmute::<RawProc, QueryFn>(query) };
    // SAFETY: as above, for AuditFree.
    let free: FreeFn = unsafe { std::mem::transmute::<RawProc, FreeFn>(free) };
    enable_security_privilege();
    let guids: Vec<GUID> = SUBCATEGORIES
        .iter()
        .map(|s| GUID {
            data1: s.data1,
            data2: GUID_DATA2,
            data3: GUID_DATA3,
            data4: GUID_DATA4,
        })
        .collect();
    let mut out: *mut AUDIT_POLICY_INFORMATION = std::ptr::null_mut();
    // SAFETY: `guids` holds `len` GUIDs; the API allocates `out` as an array of `len` entries.
    let ok = unsafe { query(guids.as_ptr(), guids.len() as u32, &mut out) };
    if ok == 0 || out.is_null() {
        return Err(api_error_text("AuditQuerySystemPolicy", last_error()));
    }
    let mut map = HashMap::new();
    for i in 0..guids.len() {
        // SAFETY: on success `out` holds one entry per requested GUID, in order.
        let info = unsafe { &*out.add(i) };
        map.insert(info.AuditSubCategoryGuid.data1, info.AuditingInformation);
    }
    // SAFETY: `out` came from AuditQuerySystemPolicy and is freed once.
    unsafe { free(out.cast()) };
    Ok(map)
}

pub fn observe(probe: &Probe, ctx: &HostContext) -> ProbeResult {
    let name = probe.arg_text();
    let sub = find(&name).ok_or_else(|| {
        error(format!(
            "unknown audit subcategory {name:?} (use auditpol's name or GUID)"
        ))
    })?;
    let policy = ctx.shared(load);
    let map = policy.0.as_ref().map_err(|e| error(e.clone()))?;
    match map.get(&sub.data1) {
        Some(bits) => Ok(Observation::text(setting_text(*bits))),
        None => Err(error(format!(
            "AuditQuerySystemPolicy returned nothing for {}",
            sub.name
        ))),
    }
}
