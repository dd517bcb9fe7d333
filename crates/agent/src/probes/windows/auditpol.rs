//! Advanced audit policy: the subcategory table (names ↔ GUIDs from ntsecapi.h) and the
//! decoding of `AUDIT_POLICY_INFORMATION.AuditingInformation`. Pure and unit-tested.
#![cfg_attr(not(windows), allow(dead_code))]

/// One advanced audit subcategory: the name `auditpol /get /category:*` prints, the
/// GUID's first field (every subcategory GUID is `0cce92xx-69ae-11d9-bed3-505054503030`),
/// and other names the Group Policy editor and CIS benchmarks use.
pub struct Subcategory {
    pub name: &'static str,
    pub data1: u32,
    pub aliases: &'static [&'static str],
}

/// The shared tail of every subcategory GUID.
pub const GUID_DATA2: u16 = 0x69ae;
pub const GUID_DATA3: u16 = 0x11d9;
pub const GUID_DATA4: [u8; 8] = [0xbe, 0xd3, 0x50, 0x50, 0x54, 0x50, 0x30, 0x30];

const fn sub(name: &'static str, data1: u32, aliases: &'static [&'static str]) -> Subcategory {
    Subcategory { name, data1, aliases }
}

/// Every subcategory Windows 10/11 and Server 2016+ define (59).
pub const SUBCATEGORIES: &[Subcategory] = &[
    // System
    sub("Security State Change", 0x0cce9210, &[]),
    sub("Security System Extension", 0x0cce9211, &[]),
    sub("System Integrity", 0x0cce9212, &[]),
    sub("IPsec Driver", 0x0cce9213, &[]),
    sub("Other System Events", 0x0cce9214, &[]),
    // Logon/Logoff
    sub("Logon", 0x0cce9215, &[]),
    sub("Logoff", 0x0cce9216, &[]),
    sub("Account Lockout", 0x0cce9217, &[]),
    sub("IPsec Main Mode", 0x0cce9218, &[]),
    sub("IPsec Quick Mode", 0x0cce9219, &[]),
    sub("IPsec Extended Mode", 0x0cce921a, &[]),
    sub("Special Logon", 0x0cce921b, &[]),
    sub("Other Logon/Logoff Events", 0x0cce921c, &[]),
    sub("Network Policy Server", 0x0cce9243, &[]),
    sub("User / Device Claims", 0x0cce9247, &["User Device Claims"]),
    sub("Group Membership", 0x0cce9249, &[]),
    // Object Access
    sub("File System", 0x0cce921d, &[]),
    sub("Registry", 0x0cce921e, &[]),
    sub("Kernel Object", 0x0cce921f, &[]),
    sub("SAM", 0x0cce9220, &[]),
    sub("Certification Services", 0x0cce9221, &[]),
    sub("Application Generated", 0x0cce9222, &[]),
    sub("Handle Manipulation", 0x0cce9223, &[]),
    sub("File Share", 0x0cce9224, &[]),
    sub("Filtering Platform Packet Drop", 0x0cce9225, &[]),
    sub("Filtering Platform Connection", 0x0cce9226, &[]),
    sub("Other Object Access Events", 0x0cce9227, &[]),
    sub("Detailed File Share", 0x0cce9244, &[]),
    sub("Removable Storage", 0x0cce9245, &[]),
    sub(
        "Central Policy Staging",
        0x0cce9246,
        &["Central Access Policy Staging"],
    ),
    // Privilege Use
    sub("Sensitive Privilege Use", 0x0cce9228, &[]),
    sub(
        "Non Sensitive Privilege Use",
        0x0cce9229,
        &["Non-Sensitive Privilege Use"],
    ),
    sub("Other Privilege Use Events", 0x0cce922a, &[]),
    // Detailed Tracking
    sub("Process Creation", 0x0cce922b, &[]),
    sub("Process Termination", 0x0cce922c, &[]),
    sub("DPAPI Activity", 0x0cce922d, &[]),
    sub("RPC Events", 0x0cce922e, &[]),
    sub("Plug and Play Events", 0x0cce9248, &["PNP Activity"]),
    sub(
        "Token Right Adjusted Events",
        0x0cce924a,
        &["Token Right Adjusted"],
    ),
    // Policy Change
    sub("Audit Policy Change", 0x0cce922f, &[]),
    sub("Authentication Policy Change", 0x0cce9230, &[]),
    sub("Authorization Policy Change", 0x0cce9231, &[]),
    sub("MPSSVC Rule-Level Policy Change", 0x0cce9232, &[]),
    sub("Filtering Platform Policy Change", 0x0cce9233, &[]),
    sub("Other Policy Change Events", 0x0cce9234, &[]),
    // Account Management
    sub("User Account Management", 0x0cce9235, &[]),
    sub("Computer Account Management", 0x0cce9236, &[]),
    sub("Security Group Management", 0x0cce9237, &[]),
    sub("Distribution Group Management", 0x0cce9238, &[]),
    sub("Application Group Management", 0x0cce9239, &[]),
    sub("Other Account Management Events", 0x0cce923a, &[]),
    // DS Access
    sub("Directory Service Access", 0x0cce923b, &[]),
    sub("Directory Service Changes", 0x0cce923c, &[]),
    sub("Directory Service Replication", 0x0cce923d, &[]),
    sub("Detailed Directory Service Replication", 0x0cce923e, &[]),
    // Account Logon
    sub("Credential Validation", 0x0cce923f, &[]),
    sub("Kerberos Service Ticket Operations", 0x0cce9240, &[]),
    sub("Other Account Logon Events", 0x0cce9241, &[]),
    sub("Kerberos Authentication Service", 0x0cce9242, &[]),
];

impl Subcategory {
    /// The GUID in registry format, e.g. `{0CCE923F-69AE-11D9-BED3-505054503030}`.
    pub fn guid_text(&self) -> String {
        format!(
            "{{{:08X}-{GUID_DATA2:04X}-{GUID_DATA3:04X}-{}}}",
            self.data1,
            guid_tail_text()
        )
    }
}

fn guid_tail_text() -> String {
    let hex = hex::encode_upper(GUID_DATA4);
    format!("{}-{}", &hex[..4], &hex[4..])
}

/// Lower case with runs of whitespace collapsed, so hand-typed names still match.
fn normalise(name: &str) -> String {
    name.to_ascii_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Finds a subcategory by name (auditpol's or Group Policy's, case-insensitive, with or
/// without the "Audit " prefix) or by GUID (with or without braces).
pub fn find(query: &str) -> Option<&'static Subcategory> {
    let q = normalise(query);
    let guid = q.trim_start_matches('{').trim_end_matches('}');
    if let Some(found) = SUBCATEGORIES
        .iter()
        .find(|s| s.guid_text().to_ascii_lowercase().trim_matches(['{', '}']) == guid)
    {
        return Some(found);
    }
    let matches = |candidate: &str| {
        SUBCATEGORIES
            .iter()
            .find(|s| normalise(s.name) == candidate || s.aliases.iter().any(|a| normalise(a) == candidate))
    };
    // "Audit Credential Validation" (the Group Policy editor's label) is auditpol's
    // "Credential Validation"; the exact name is tried first because "Audit Policy Change"
    // is itself a subcategory name.
    matches(&q).or_else(|| q.strip_prefix("audit ").and_then(matches))
}

pub const POLICY_AUDIT_EVENT_SUCCESS: u32 = 0x1;
pub const POLICY_AUDIT_EVENT_FAILURE: u32 = 0x2;

/// `AuditingInformation` → the words auditpol prints.
pub fn setting_text(auditing_information: u32) -> &'static str {
    let success = auditing_information & POLICY_AUDIT_EVENT_SUCCESS != 0;
    let failure = auditing_information & POLICY_AUDIT_EVENT_FAILURE != 0;
    match (success, failure) {
        (true, true) => "Success and Failure",
        (true, false) => "Success",
        (false, true) => "Failure",
        // POLICY_AUDIT_EVENT_NONE (4) and 0 ("unchanged") both mean nothing is audited.
        (false, false) => "No Auditing",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_every_subcategory_once() {
        assert_eq!(SUBCATEGORIES.len(), 59);
        let mut ids: Vec<u32> = SUBCATEGORIES.iter().map(|s| s.data1).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 59);
        // ntsecapi.h numbers them contiguously from 0cce9210 to 0cce924a.
        assert_eq!(ids.first(), Some(&0x0cce9210));
        assert_eq!(ids.last(), Some(&0x0cce924a));
        let mut names: Vec<String> = SUBCATEGORIES.iter().map(|s| normalise(s.name)).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 59);
    }

    #[test]
    fn lookup_by_name_alias_prefix_and_guid() {
        let cv = find("Credential Validation").unwrap();
        assert_eq!(cv.guid_text(), "{0CCE923F-69AE-11D9-BED3-505054503030}");
        assert_eq!(find("audit credential validation").unwrap().data1, 0x0cce923f);
        assert_eq!(find("  Credential   Validation ").unwrap().data1, 0x0cce923f);
        assert_eq!(
            find("{0cce923f-69ae-11d9-bed3-505054503030}").unwrap().name,
            "Credential Validation"
        );
        assert_eq!(
            find("0CCE9215-69AE-11D9-BED3-505054503030").unwrap().name,
            "Logon"
        );
        assert_eq!(find("Audit PNP Activity").unwrap().data1, 0x0cce9248);
        // "Audit Policy Change" is a name of its own, not "Policy Change" with a prefix.
        assert_eq!(find("Audit Policy Change").unwrap().data1, 0x0cce922f);
        assert_eq!(find("Kerberos Authentication Service").unwrap().data1, 0x0cce9242);
        assert_eq!(
            find("Kerberos Service Ticket Operations").unwrap().data1,
            0x0cce9240
        );
        assert!(find("Policy Change").is_none());
        assert!(find("Bogus").is_none());
    }

    #[test]
    fn settings_decode_like_auditpol() {
        assert_eq!(setting_text(0), "No Auditing");
        assert_eq!(setting_text(4), "No Auditing");
        assert_eq!(setting_text(1), "Success");
        assert_eq!(setting_text(2), "Failure");
        assert_eq!(setting_text(3), "Success and Failure");
    }
}
