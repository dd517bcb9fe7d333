//! Windows Firewall profile settings as the registry stores them, and which one is in
//! force. Pure, so the precedence rules are unit-tested on every platform.
#![cfg_attr(not(windows), allow(dead_code))]

use vt_policy::Value;

/// Group Policy's copy of the firewall settings (written by GPO / MDM).
pub const POLICY_ROOT: &str = r"SOFTWARE\Policies\Microsoft\WindowsFirewall";
/// The local settings (wf.msc, netsh, Set-NetFirewallProfile).
pub const LOCAL_ROOT: &str = r"SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy";

/// The key names of a profile: (under POLICY_ROOT, under LOCAL_ROOT). The local store
/// still calls the private profile "StandardProfile", its pre-Vista name.
pub fn profile_keys(profile: &str) -> Option<(&'static str, &'static str)> {
    match profile {
        "domain" => Some(("DomainProfile", "DomainProfile")),
        "private" => Some(("PrivateProfile", "StandardProfile")),
        "public" => Some(("PublicProfile", "PublicProfile")),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Enabled,
    DefaultInbound,
    DefaultOutbound,
}

impl Setting {
    pub fn from_property(prop: &str) -> Option<Setting> {
        match prop {
            "enabled" => Some(Setting::Enabled),
            "default_inbound" => Some(Setting::DefaultInbound),
            "default_outbound" => Some(Setting::DefaultOutbound),
            _ => None,
        }
    }

    /// The REG_DWORD that holds the setting, under both roots.
    pub fn value_name(self) -> &'static str {
        match self {
            Setting::Enabled => "EnableFirewall",
            Setting::DefaultInbound => "DefaultInboundAction",
            Setting::DefaultOutbound => "DefaultOutboundAction",
        }
    }

    /// What Windows applies when neither store has the value: a fresh install has the
    /// firewall on, blocking unsolicited inbound traffic and allowing outbound traffic.
    pub fn windows_default(self) -> u32 {
        match self {
            Setting::Enabled => 1,
            Setting::DefaultInbound => 1,
            Setting::DefaultOutbound => 0,
        }
    }
}

/// Where the effective value came from, for evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    GroupPolicy,
    Local,
    Default,
}

/// The value in force: a Group Policy value wins over the local one for each setting on
/// its own ("not configured" in a GPO leaves the value absent), then the Windows default.
pub fn effective(setting: Setting, policy: Option<u32>, local: Option<u32>) -> (Value, Source) {
    let (raw, source) = match (policy, local) {
        (Some(v), _) => (v, Source::GroupPolicy),
        (None, Some(v)) => (v, Source::Local),
        (None, None) => (setting.windows_default(), Source::Default),
    };
    let value = match setting {
        Setting::Enabled => Value::Bool(raw != 0),
        // DefaultInboundAction/DefaultOutboundAction: 1 = block, 0 = allow.
        Setting::DefaultInbound | Setting::DefaultOutbound => {
            Value::text(if raw != 0 { "block" } else { "allow" })
        }
    };
    (value, source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_policy_wins_over_local_settings() {
        assert_eq!(
            effective(Setting::Enabled, Some(0), Some(1)),
            (Value::Bool(false), Source::GroupPolicy)
        );
        assert_eq!(
            effective(Setting::Enabled, Some(1), Some(0)),
            (Value::Bool(true), Source::GroupPolicy)
        );
        assert_eq!(
            effective(Setting::Enabled, None, Some(0)),
            (Value::Bool(false), Source::Local)
        );
        assert_eq!(
            effective(Setting::DefaultInbound, Some(0), Some(1)),
            (Value::text("allow"), Source::GroupPolicy)
        );
        assert_eq!(
            effective(Setting::DefaultOutbound, None, Some(1)),
            (Value::text("block"), Source::Local)
        );
    }

    #[test]
    fn absent_values_take_windows_defaults() {
        assert_eq!(
            effective(Setting::Enabled, None, None),
            (Value::Bool(true), Source::Default)
        );
        assert_eq!(
            effective(Setting::DefaultInbound, None, None),
            (Value::text("block"), Source::Default)
        );
        assert_eq!(
            effective(Setting::DefaultOutbound, None, None),
            (Value::text("allow"), Source::Default)
        );
    }

    #[test]
    fn profiles_map_to_both_stores() {
        assert_eq!(
            profile_keys("private"),
            Some(("PrivateProfile", "StandardProfile"))
        );
        assert_eq!(profile_keys("domain"), Some(("DomainProfile", "DomainProfile")));
        assert_eq!(profile_keys("public"), Some(("PublicProfile", "PublicProfile")));
        assert_eq!(profile_keys("work"), None);
        assert_eq!(
            Setting::from_property("default_inbound").map(Setting::value_name),
            Some("DefaultInboundAction")
        );
    }
}
