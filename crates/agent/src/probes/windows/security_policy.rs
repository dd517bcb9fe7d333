//! The `security_policy` probe: password and lockout policy and the built-in accounts,
//! read once per run. The Win32 calls fill the plain structs of `secsettings`, whose
//! mapping to policy units is unit-tested.
//!
//! Sources: `NetUserModalsGet` levels 0 and 3 (lengths, ages, history, lockout);
//! complexity and reversible encryption are bits of the account domain's
//! `DOMAIN_PASSWORD_INFORMATION.PasswordProperties`, which no documented Win32 call
//! returns, so they come from the SAM through samlib's `SamQueryInformationDomain` (the
//! client of the documented MS-SAMR protocol), loaded at run time; `secedit /export`
//! would need a temporary file and Administrator rights for the same two bits.
//! Built-in accounts come from `NetUserEnum` level 20, which gives every local account's
//! RID and flags: the Administrator (RID 500) and Guest (RID 501) are found whatever they
//! were renamed to or however the language edition spells them.

use std::ffi::c_void;

use vt_policy::probe::Probe;
use vt_policy::{Observation, Value};
use windows_sys::Win32::NetworkManagement::NetManagement::{
    NERR_Success, NetApiBufferFree, NetUserEnum, NetUserModalsGet, FILTER_NORMAL_ACCOUNT,
    MAX_PREFERRED_LENGTH, USER_INFO_20, USER_MODALS_INFO_0, USER_MODALS_INFO_3,
};
use windows_sys::Win32::Security::Authentication::Identity::{
    LsaClose, LsaFreeMemory, LsaOpenPolicy, LsaQueryInformationPolicy, PolicyAccountDomainInformation,
    LSA_HANDLE, LSA_OBJECT_ATTRIBUTES, POLICY_ACCOUNT_DOMAIN_INFO, POLICY_VIEW_LOCAL_INFORMATION,
};

use super::secsettings::{setting, Modals0, Modals3, Snapshot};
use super::win::{api_error_text, ntstatus_text, running_under_wine, system_proc};
use crate::context::HostContext;
use crate::probes::{error, ProbeResult};

/// ERROR_MORE_DATA from NetUserEnum: more entries follow.
const ERROR_MORE_DATA: u32 = 234;

struct SecurityPolicy(Snapshot);

/// Calls NetUserModalsGet and copies the structure out of the API buffer.
fn modals<T: Copy>(level: u32) -> Result<T, String> {
    let mut buf: *mut u8 = std::ptr::null_mut();
    // SAFETY: null server = this machine; on success `buf` points to a T allocated by the API.
    let rc = unsafe { NetUserModalsGet(std::ptr::null(), level, &mut buf) };
    if rc != NERR_Success || buf.is_null() {
        return Err(api_error_text(&format!("NetUserModalsGet level {level}"), rc));
    }
    // SAFETY: for this level the buffer holds one T; it is freed right after the copy.
    let value = unsafe { *buf.cast::<T>() };
    // SAFETY: `buf` came from NetUserModalsGet.
    unsafe { NetApiBufferFree(buf.cast()) };
    Ok(value)
}

fn accounts() -> Result<Vec<(u32, u32)>, String> {
    let mut out = Vec::new();
    let mut resume = 0u32;
    loop {
        let mut buf: *mut u8 = std::ptr::null_mut();
        let (mut read, mut total) = (0u32, 0u32);
        // SAFETY: all pointers are valid outputs; the API allocates `buf`.
        let rc = unsafe {
            NetUserEnum(
                std::ptr::null(),
                20,
                FILTER_NORMAL_ACCOUNT,
                &mut buf,
                MAX_PREFERRED_LENGTH,
                &mut read,
                &mut total,
                &mut resume,
            )
        };
        if rc != NERR_Success && rc != ERROR_MORE_DATA {
            return Err(api_error_text("NetUserEnum", rc));
        }
        if !buf.is_null() {
            let users = buf.cast::<USER_INFO_20>();
            for i in 0..read as usize {
                // SAFETY: the API reported `read` entries in `buf`.
                let u = unsafe { &*users.add(i) };
                out.push((u.usri20_user_id, u.usri20_flags));
            }
            // SAFETY: `buf` came from NetUserEnum.
            unsafe { NetApiBufferFree(buf.cast()) };
        }
        if rc == NERR_Success {
            return Ok(out);
        }
    }
}

/// The SID of this machine's account domain (the local SAM), from the LSA.
fn with_account_domain_sid<R>(f: impl FnOnce(*mut c_void) -> Result<R, String>) -> Result<R, String> {
    let attrs = LSA_OBJECT_ATTRIBUTES {
        Length: std::mem::size_of::<LSA_OBJECT_ATTRIBUTES>() as u32,
        ..Default::default()
    };
    let mut policy: LSA_HANDLE = 0;
    // SAFETY: null system name = this machine; `attrs` is the zeroed structure the API expects.
    let status = unsafe {
        LsaOpenPolicy(
            std::ptr::null(),
            &attrs,
            POLICY_VIEW_LOCAL_INFORMATION as u32,
            &mut policy,
        )
    };
    if status != 0 {
        return Err(ntstatus_text("LsaOpenPolicy", status));
    }
    let mut info: *mut c_void = std::ptr::null_mut();
    // SAFETY: `policy` is open; the API allocates `info`.
    let status = unsafe { LsaQueryInformationPolicy(policy, PolicyAccountDomainInformation, &mut info) };
    let result = if status != 0 || info.is_null() {
        Err(ntstatus_text("LsaQueryInformationPolicy", status))
    } else {
        // SAFETY: for this class `info` is a POLICY_ACCOUNT_DOMAIN_INFO.
        let sid = unsafe { (*info.cast::<POLICY_ACCOUNT_DOMAIN_INFO>()).DomainSid };
        let r = f(sid);
        // SAFETY: `info` came from LsaQueryInformationPolicy.
        unsafe { LsaFreeMemory(info) };
        r
    };
    // SAFETY: `policy` came from LsaOpenPolicy.
    unsafe { LsaClose(policy) };
    result
}

/// OBJECT_ATTRIBUTES as ntdef.h defines it; SamConnect wants an initialised, empty one.
#[repr(C)]
struct ObjectAttributes {
    length: u32,
    root_directory: *mut c_void,
    object_name: *mut c_void,
    attributes: u32,
    security_descriptor: *mut c_void,
    security_quality_of_service: *mut c_void,
}

type SamConnectFn =
    unsafe extern "system" fn(*const c_void, *mut *mut c_void, u32, *const ObjectAttributes) -> i32;
type SamOpenDomainFn = unsafe extern "system" fn(*mut c_void, u32, *mut c_void, *mut *mut c_void) -> i32;
type SamQueryInformationDomainFn = unsafe extern "system" fn(*mut c_void, i32, *mut *mut c_void) -> i32;
type SamFreeMemoryFn = unsafe extern "system" fn(*mut c_void) -> i32;
type SamCloseHandleFn = unsafe extern "system" fn(*mut c_void) -> i32;

/// ntsam.h access rights and information class.
const SAM_SERVER_CONNECT: u32 = 0x1;
const SAM_SERVER_LOOKUP_DOMAIN: u32 = 0x20;
const DOMAIN_READ_PASSWORD_PARAMETERS: u32 = 0x1;
const DOMAIN_PASSWORD_INFORMATION_CLASS: i32 = 1;

/// DOMAIN_PASSWORD_INFORMATION (ntsecapi.h).
#[repr(C)]
#[derive(Clone, Copy)]
struct DomainPasswordInformation {
    min_password_length: u16,
    password_history_length: u16,
    password_properties: u32,
    max_password_age: i64,
    min_password_age: i64,
}

fn password_properties() -> Result<u32, String> {
    if running_under_wine() {
        return Err(
            "password complexity and reversible encryption: the SAM API is not available \
                    under Wine (samlib.dll is a stub there)"
                .into(),
        );
    }
    let load = |name: &std::ffi::CStr| {
        system_proc("samlib.dll", name).ok_or_else(|| {
            format!(
                "samlib.dll has no {} (password complexity is not readable on this system)",
                name.to_string_lossy()
            )
        })
    };
    // SAFETY (all transmutes below): each pointer is the named samlib export, whose
    // signature (ntsam.h) is the function type it is cast to.
    let connect: SamConnectFn = unsafe { std::mem::transmute(load(c"SamConnect")?) };
    let open_domain: SamOpenDomainFn = unsafe { std::mem::transmute(load(c"SamOpenDomain")?) };
    let query: SamQueryInformationDomainFn =
        unsafe { std::mem::transmute(load(c"SamQueryInformationDomain")?) };
    let free: SamFreeMemoryFn = unsafe { std::mem::transmute(load(c"SamFreeMemory")?) };
    let close: SamCloseHandleFn = unsafe { std::mem::transmute(load(c"SamCloseHandle")?) };

    with_account_domain_sid(|domain_sid| {
        let oa = ObjectAttributes {
            length: std::mem::size_of::<ObjectAttributes>() as u32,
            root_directory: std::ptr::null_mut(),
            object_name: std::ptr::null_mut(),
            attributes: 0,
            security_descriptor: std::ptr::null_mut(),
            security_quality_of_service: std::ptr::null_mut(),
        };
        let mut server = std::ptr::null_mut();
        // SAFETY: null server name = this machine; `oa` is initialised and outlives the call.
        let status = unsafe {
            connect(
                std::ptr::null(),
                &mut server,
                SAM_SERVER_CONNECT | SAM_SERVER_LOOKUP_DOMAIN,
                &oa,
            )
        };
        if status != 0 {
            return Err(ntstatus_text("SamConnect", status));
        }
        let mut domain = std::ptr::null_mut();
        // SAFETY: `server` is open and `domain_sid` is the valid SID the LSA returned.
        let status = unsafe { open_domain(server, DOMAIN_READ_PASSWORD_PARAMETERS, domain_sid, &mut domain) };
        let result = if status != 0 {
            Err(ntstatus_text("SamOpenDomain", status))
        } else {
            let mut buf: *mut c_void = std::ptr::null_mut();
            // SAFETY: `domain` is open with DOMAIN_READ_PASSWORD_PARAMETERS.
            let status = unsafe { query(domain, DOMAIN_PASSWORD_INFORMATION_CLASS, &mut buf) };
            let r = if status != 0 || buf.is_null() {
                Err(ntstatus_text("SamQueryInformationDomain", status))
            } else {
                // SAFETY: for this class the buffer is a DOMAIN_PASSWORD_INFORMATION.
                let info = unsafe { *buf.cast::<DomainPasswordInformation>() };
                // SAFETY: `buf` came from SamQueryInformationDomain.
                unsafe { free(buf) };
                Ok(info.password_properties)
            };
            // SAFETY: `domain` came from SamOpenDomain.
            unsafe { close(domain) };
            r
        };
        // SAFETY: `server` came from SamConnect.
        unsafe { close(server) };
        result
    })
}

fn load() -> SecurityPolicy {
    SecurityPolicy(Snapshot {
        modals0: modals::<USER_MODALS_INFO_0>(0).map(|m| Modals0 {
            min_passwd_len: m.usrmod0_min_passwd_len,
            max_passwd_age: m.usrmod0_max_passwd_age,
            min_passwd_age: m.usrmod0_min_passwd_age,
            password_hist_len: m.usrmod0_password_hist_len,
        }),
        modals3: modals::<USER_MODALS_INFO_3>(3).map(|m| Modals3 {
            lockout_duration: m.usrmod3_lockout_duration,
            lockout_observation_window: m.usrmod3_lockout_observation_window,
            lockout_threshold: m.usrmod3_lockout_threshold,
        }),
        password_properties: password_properties(),
        accounts: accounts(),
    })
}

pub fn observe(probe: &Probe, ctx: &HostContext) -> ProbeResult {
    let policy = ctx.shared(load);
    let name = probe.arg_text();
    setting(&policy.0, &name)
        .map(|v| Observation::Scalar(Value::Int(v)))
        .map_err(error)
}
