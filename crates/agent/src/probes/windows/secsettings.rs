//! Password, lockout and built-in account settings: what the Win32 calls return, recorded
//! in plain structs, and the mapping to the policy's `security_policy` settings. Pure, so
//! the units and special values are unit-tested with recorded outputs on every platform.
#![cfg_attr(not(windows), allow(dead_code))]

/// `TIMEQ_FOREVER` (lmaccess.h): "never" for an age or a lockout duration.
pub const TIMEQ_FOREVER: u32 = u32::MAX;
/// How "never" is reported: larger than any limit a policy sets, so "maximum age at most
/// 365 days" fails for passwords that never expire and "lockout at least 15 minutes"
/// passes for lockouts that last until an administrator unlocks the account.
pub const FOREVER: i64 = u32::MAX as i64;

/// `DOMAIN_PASSWORD_INFORMATION.PasswordProperties` bits (ntsecapi.h).
pub const DOMAIN_PASSWORD_COMPLEX: u32 = 0x1;
pub const DOMAIN_PASSWORD_STORE_CLEARTEXT: u32 = 0x10;
/// `USER_INFO_*.usri*_flags`: the account is disabled.
pub const UF_ACCOUNTDISABLE: u32 = 0x2;
pub const RID_ADMINISTRATOR: u32 = 500;
pub const RID_GUEST: u32 = 501;

/// `USER_MODALS_INFO_0` (times in seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modals0 {
    pub min_passwd_len: u32,
    pub max_passwd_age: u32,
    pub min_passwd_age: u32,
    pub password_hist_len: u32,
}

/// `USER_MODALS_INFO_3` (times in seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modals3 {
    pub lockout_duration: u32,
    pub lockout_observation_window: u32,
    pub lockout_threshold: u32,
}

/// Everything the probe reads, once per run. Each source fails on its own so one
/// unavailable API does not hide the settings another one answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub modals0: Result<Modals0, String>,
    pub modals3: Result<Modals3, String>,
    /// `DOMAIN_PASSWORD_INFORMATION.PasswordProperties` of the account domain (SAM).
    pub password_properties: Result<u32, String>,
    /// Local accounts as (RID, flags).
    pub accounts: Result<Vec<(u32, u32)>, String>,
}

fn days(seconds: u32) -> i64 {
    if seconds == TIMEQ_FOREVER {
        FOREVER
    } else {
        i64::from(seconds / 86_400)
    }
}

fn minutes(seconds: u32) -> i64 {
    if seconds == TIMEQ_FOREVER {
        FOREVER
    } else {
        i64::from(seconds / 60)
    }
}

fn flag(bits: u32, mask: u32) -> i64 {
    i64::from(bits & mask != 0)
}

fn account_enabled(accounts: &[(u32, u32)], rid: u32, what: &str) -> Result<i64, String> {
    match accounts.iter().find(|(r, _)| *r == rid) {
        Some((_, flags)) => Ok(i64::from(flags & UF_ACCOUNTDISABLE == 0)),
        None => Err(format!("no local account with RID {rid} ({what}) was found")),
    }
}

/// One setting, in the policy's units (days, minutes, 0/1).
pub fn setting(snap: &Snapshot, name: &str) -> Result<i64, String> {
    let m0 = || snap.modals0.clone();
    let m3 = || snap.modals3.clone();
    match name {
        "minimum_password_length" => Ok(i64::from(m0()?.min_passwd_len)),
        "maximum_password_age" => Ok(days(m0()?.max_passwd_age)),
        "minimum_password_age" => Ok(days(m0()?.min_passwd_age)),
        "password_history_size" => Ok(i64::from(m0()?.password_hist_len)),
        "password_complexity" => Ok(flag(snap.password_properties.clone()?, DOMAIN_PASSWORD_COMPLEX)),
        "reversible_encryption" => Ok(flag(
            snap.password_properties.clone()?,
            DOMAIN_PASSWORD_STORE_CLEARTEXT,
        )),
        "lockout_threshold" => Ok(i64::from(m3()?.lockout_threshold)),
        "lockout_duration" => Ok(minutes(m3()?.lockout_duration)),
        "lockout_observation_window" => Ok(minutes(m3()?.lockout_observation_window)),
        "guest_account_enabled" => {
            account_enabled(snap.accounts.as_ref().map_err(Clone::clone)?, RID_GUEST, "Guest")
        }
        "administrator_account_enabled" => account_enabled(
            snap.accounts.as_ref().map_err(Clone::clone)?,
            RID_ADMINISTRATOR,
            "Administrator",
        ),
        other => Err(format!("unknown security_policy setting {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The structures as the API fills them (seconds, raw flags) on a host configured to
    /// CIS level 1: minimum length 14, maximum age 365 days, minimum age 1 day, history 24,
    /// lockout after 5 attempts for 15 minutes within a 15-minute window. Account flags
    /// include UF_SCRIPT (0x1) and UF_NORMAL_ACCOUNT (0x200) as NetUserEnum reports them.
    fn hardened() -> Snapshot {
        Snapshot {
            modals0: Ok(Modals0 {
                min_passwd_len: 14,
                max_passwd_age: 365 * 86_400,
                min_passwd_age: 86_400,
                password_hist_len: 24,
            }),
            modals3: Ok(Modals3 {
                lockout_duration: 900,
                lockout_observation_window: 900,
                lockout_threshold: 5,
            }),
            password_properties: Ok(DOMAIN_PASSWORD_COMPLEX),
            accounts: Ok(vec![(500, 0x0203), (501, 0x0223), (503, 0x0223), (1001, 0x0201)]),
        }
    }

    #[test]
    fn hardened_host_maps_to_policy_units() {
        let s = hardened();
        let get = |n| setting(&s, n).unwrap();
        assert_eq!(get("minimum_password_length"), 14);
        assert_eq!(get("maximum_password_age"), 365);
        assert_eq!(get("minimum_password_age"), 1);
        assert_eq!(get("password_history_size"), 24);
        assert_eq!(get("password_complexity"), 1);
        assert_eq!(get("reversible_encryption"), 0);
        assert_eq!(get("lockout_threshold"), 5);
        // The API speaks seconds; policies speak minutes.
        assert_eq!(get("lockout_duration"), 15);
        assert_eq!(get("lockout_observation_window"), 15);
        // Both built-in accounts carry UF_ACCOUNTDISABLE (0x2) here.
        assert_eq!(get("guest_account_enabled"), 0);
        assert_eq!(get("administrator_account_enabled"), 0);
    }

    #[test]
    fn defaults_and_forever_values() {
        // Passwords that never expire and a lockout that lasts until an administrator
        // unlocks the account are both TIMEQ_FOREVER in the API.
        let s = Snapshot {
            modals0: Ok(Modals0 {
                min_passwd_len: 0,
                max_passwd_age: TIMEQ_FOREVER,
                min_passwd_age: 0,
                password_hist_len: 0,
            }),
            modals3: Ok(Modals3 {
                lockout_duration: TIMEQ_FOREVER,
                lockout_observation_window: 1800,
                lockout_threshold: 0,
            }),
            password_properties: Ok(DOMAIN_PASSWORD_STORE_CLEARTEXT),
            accounts: Ok(vec![(500, 0x0201)]),
        };
        assert_eq!(setting(&s, "maximum_password_age"), Ok(FOREVER));
        assert_eq!(setting(&s, "lockout_duration"), Ok(FOREVER));
        assert_eq!(setting(&s, "lockout_observation_window"), Ok(30));
        assert_eq!(setting(&s, "password_complexity"), Ok(0));
        assert_eq!(setting(&s, "reversible_encryption"), Ok(1));
        assert_eq!(setting(&s, "administrator_account_enabled"), Ok(1));
        assert!(setting(&s, "guest_account_enabled")
            .unwrap_err()
            .contains("RID 501"));
        // Partial days and minutes round down, as `net accounts` shows them.
        let mut partial = s.clone();
        partial.modals0 = Ok(Modals0 {
            min_passwd_len: 8,
            max_passwd_age: 86_399,
            min_passwd_age: 0,
            password_hist_len: 0,
        });
        assert_eq!(setting(&partial, "maximum_password_age"), Ok(0));
    }

    #[test]
    fn each_source_fails_on_its_own() {
        let mut s = hardened();
        s.password_properties = Err("SAM is not available (requires Administrator)".into());
        assert_eq!(setting(&s, "minimum_password_length"), Ok(14));
        assert!(setting(&s, "password_complexity")
            .unwrap_err()
            .contains("requires Administrator"));
        s.modals3 = Err("NetUserModalsGet(3) failed".into());
        assert!(setting(&s, "lockout_threshold").is_err());
        assert_eq!(setting(&s, "password_history_size"), Ok(24));
        assert!(setting(&s, "bogus").is_err());
        for name in vt_policy::probe::SECURITY_SETTINGS {
            assert!(setting(&hardened(), name).is_ok(), "{name}");
        }
    }
}
