//! The `firewall` probe: profile settings from the registry stores the firewall service
//! itself reads, Group Policy first (see `fwrules` for the precedence and defaults).

use vt_policy::probe::Probe;
use vt_policy::Observation;

use super::fwrules::{effective, profile_keys, Setting, LOCAL_ROOT, POLICY_ROOT};
use super::registry::{Key, View};
use crate::probes::{error, ProbeResult};

fn read(path: &str, value: &str) -> Result<Option<u32>, String> {
    let Some(key) = Key::open(path, View::Bits64)? else {
        return Ok(None);
    };
    // A DWORD is stored; anything else there is not a valid setting and is ignored, as
    // the firewall service ignores it.
    Ok(key.int(value)?.and_then(|v| u32::try_from(v).ok()))
}

pub fn observe(probe: &Probe) -> ProbeResult {
    let profile = probe.arg_text();
    let (policy_key, local_key) =
        profile_keys(&profile).ok_or_else(|| error(format!("unknown firewall profile {profile:?}")))?;
    let setting = Setting::from_property(probe.property().unwrap_or("enabled"))
        .ok_or_else(|| error("unknown firewall property"))?;
    let name = setting.value_name();
    let policy = read(&format!("HKLM\\{POLICY_ROOT}\\{policy_key}"), name).map_err(error)?;
    let local = read(&format!("HKLM\\{LOCAL_ROOT}\\{local_key}"), name).map_err(error)?;
    let (value, _source) = effective(setting, policy, local);
    Ok(Observation::Scalar(value))
}
