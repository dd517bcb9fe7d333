//! The `local_group` probe: members of a local group, addressed by SID (the same on every
//! language edition: S-1-5-32-544 is "Administrators", "Administrateurs", ...) or by name.

use vt_policy::probe::Probe;
use vt_policy::{Observation, Value};
use windows_sys::Win32::NetworkManagement::NetManagement::{
    NERR_Success, NetApiBufferFree, NetLocalGroupGetMembers, LOCALGROUP_MEMBERS_INFO_2, MAX_PREFERRED_LENGTH,
};

use super::win::{api_error, from_wide_ptr, lookup_sid, sid_to_string, wide, OwnedSid};
use crate::probes::{error, ProbeResult};

const NERR_GROUP_NOT_FOUND: u32 = 2220;
const ERROR_NO_SUCH_ALIAS: u32 = 1376;
const ERROR_NONE_MAPPED: u32 = 1332;
const ERROR_MORE_DATA: u32 = 234;

/// (DOMAIN\name, SID string) of each member.
fn members(group: &str) -> Result<Option<Vec<(String, String)>>, crate::probes::ProbeFailure> {
    let w = wide(group);
    let mut out = Vec::new();
    let mut resume = 0usize;
    loop {
        let mut buf: *mut u8 = std::ptr::null_mut();
        let (mut read, mut total) = (0u32, 0u32);
        // SAFETY: null server = this machine; `w` is NUL-terminated; the API allocates `buf`.
        let rc = unsafe {
            NetLocalGroupGetMembers(
                std::ptr::null(),
                w.as_ptr(),
                2,
                &mut buf,
                MAX_PREFERRED_LENGTH,
                &mut read,
                &mut total,
                &mut resume,
            )
        };
        if rc == NERR_GROUP_NOT_FOUND || rc == ERROR_NO_SUCH_ALIAS {
            return Ok(None);
        }
        if rc != NERR_Success && rc != ERROR_MORE_DATA {
            return Err(api_error(&format!("local group {group}"), rc));
        }
        if !buf.is_null() {
            let entries = buf.cast::<LOCALGROUP_MEMBERS_INFO_2>();
            for i in 0..read as usize {
                // SAFETY: the API reported `read` entries; their pointers point into `buf`.
                let m = unsafe { &*entries.add(i) };
                // SAFETY: as above; the SID and the name are valid until the buffer is freed.
                let name = unsafe { from_wide_ptr(m.lgrmi2_domainandname) };
                // SAFETY: as above.
                let sid = unsafe { sid_to_string(m.lgrmi2_sid) }.unwrap_or_default();
                out.push((name, sid));
            }
            // SAFETY: `buf` came from NetLocalGroupGetMembers.
            unsafe { NetApiBufferFree(buf.cast()) };
        }
        if rc == NERR_Success {
            return Ok(Some(out));
        }
    }
}

pub fn observe(probe: &Probe) -> ProbeResult {
    let arg = probe.arg_text();
    let group = if arg.to_ascii_uppercase().starts_with("S-1-") {
        let sid = OwnedSid::parse(&arg).map_err(error)?;
        // SAFETY: `sid` is a valid SID for the duration of the call.
        match unsafe { lookup_sid(sid.as_ptr()) } {
            Ok((_domain, name)) => name,
            Err(ERROR_NONE_MAPPED) => return Ok(Observation::Missing),
            Err(code) => return Err(api_error(&format!("looking up {arg}"), code)),
        }
    } else {
        arg.clone()
    };
    let Some(list) = members(&group)? else {
        return Ok(Observation::Missing);
    };
    let sids = probe.property() == Some("member_sids");
    // An existing group with no members is an empty list, so `count: {equals: 0}` works.
    Ok(Observation::List(
        list.into_iter()
            .map(|(name, sid)| Value::Text(if sids { sid } else { name }))
            .collect(),
    ))
}
