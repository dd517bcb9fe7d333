//! A stable identifier of this machine, so re-enrolling it (new disk image, reinstall of
//! the agent, renamed host) reuses its record on the server instead of creating another.

/// Overrides the machine id: for cloned images whose id was never regenerated, and for
/// running several simulated hosts on one machine in tests.
pub const MACHINE_ID_ENV: &str = "VT_AUDIT_MACHINE_ID";

/// `/etc/machine-id` (systemd) or D-Bus's copy on Linux; the `MachineGuid` created at
/// Windows setup on Windows.
pub fn machine_id() -> Result<String, String> {
    let id = match std::env::var(MACHINE_ID_ENV) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => platform_id(),
    };
    id.map(|s| s.trim().to_ascii_lowercase()).and_then(|s| {
        if (8..=128).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            Ok(s)
        } else {
            Err(format!("machine id {s:?} is not a usable identifier"))
        }
    })
}

#[cfg(not(windows))]
fn platform_id() -> Result<String, String> {
    for path in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.trim().is_empty() {
                return Ok(text);
            }
        }
    }
    Err("no machine id: /etc/machine-id is missing (run `systemd-machine-id-setup`)".into())
}

#[cfg(windows)]
fn platform_id() -> Result<String, String> {
    use vt_policy::probe::{Param, Probe, ProbeArg, ProbeKind};
    use vt_policy::Observation;
    let probe = Probe {
        kind: ProbeKind::Registry,
        arg: ProbeArg::Text(r"HKLM\SOFTWARE\Microsoft\Cryptography".into()),
        property: Some("data".into()),
        params: [("value".to_string(), Param::Text("MachineGuid".into()))]
            .into_iter()
            .collect(),
    };
    match crate::probes::windows::registry::observe(&probe) {
        Ok(Observation::Scalar(v)) => Ok(v.to_string()),
        Ok(_) => Err("MachineGuid is missing from HKLM\\SOFTWARE\\Microsoft\\Cryptography".into()),
        Err(e) => Err(format!("cannot read MachineGuid: {e:?}")),
    }
}
