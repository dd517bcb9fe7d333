//! Parsing `manage-bde -status` (English output) into per-volume BitLocker status. Pure and
//! unit-tested with recorded output layouts.
#![cfg_attr(not(windows), allow(dead_code))]

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The drive letter with its colon ("C:"), or the volume GUID path for unlettered volumes.
    pub name: String,
    /// The bracketed kind line: "OS Volume", "Data Volume", "Removable Data Volume"...
    pub kind: String,
    /// "fully_encrypted", "fully_decrypted", "encryption_in_progress"...
    pub conversion_status: Option<String>,
    /// "on", "off" or "unknown".
    pub protection_status: Option<String>,
}

impl Volume {
    /// Fixed volumes are what `bitlocker: "*"` covers; removable drives come and go.
    pub fn is_fixed(&self) -> bool {
        !self.kind.to_ascii_lowercase().contains("removable")
    }
}

/// Why the output could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BdeError {
    NeedsAdmin,
    Unrecognised(String),
}

/// `Conversion Status:    Encryption in Progress` → `encryption_in_progress`.
fn snake(value: &str) -> String {
    value
        .split_whitespace()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_")
}

/// `Protection Status:    Protection Off (1 reboots left)` → `off`.
fn protection(value: &str) -> String {
    let v = value.to_ascii_lowercase();
    if v.starts_with("protection on") {
        "on".into()
    } else if v.starts_with("protection off") {
        "off".into()
    } else {
        snake(value)
    }
}

/// True when the text says the caller lacks rights; manage-bde prints this (and exits
/// non-zero) when not run elevated.
pub fn denied(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    (t.contains("access") && t.contains("denied"))
        || t.contains("administrative rights")
        || t.contains("elevat")
}

pub fn parse_status(output: &str) -> Result<Vec<Volume>, BdeError> {
    if denied(output) {
        return Err(BdeError::NeedsAdmin);
    }
    let mut volumes: Vec<Volume> = Vec::new();
    let mut expect_kind = false;
    for raw in output.lines() {
        let line = raw.trim();
        if let Some(rest) = line.strip_prefix("Volume ") {
            // "Volume C: [OS]" or "Volume \\?\Volume{...}\ [Label]": the name is the first word.
            let name = rest.split_whitespace().next().unwrap_or_default().to_string();
            volumes.push(Volume {
                name,
                kind: String::new(),
                conversion_status: None,
                protection_status: None,
            });
            expect_kind = true;
            continue;
        }
        let Some(current) = volumes.last_mut() else {
            continue;
        };
        if expect_kind && line.starts_with('[') && line.ends_with(']') {
            current.kind = line.trim_matches(['[', ']']).to_string();
            expect_kind = false;
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            let value = value.trim();
            match key.trim() {
                "Conversion Status" => current.conversion_status = Some(snake(value)),
                "Protection Status" => current.protection_status = Some(protection(value)),
                _ => {}
            }
        }
    }
    if volumes.is_empty() {
        let first = output
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no output");
        return Err(BdeError::Unrecognised(format!(
            "manage-bde printed no volume (only English output is understood): {first}"
        )));
    }
    Ok(volumes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout of `manage-bde -status` on an English Windows 10/11 (values varied).
    const TWO_VOLUMES: &str = "BitLocker Drive Encryption: Configuration Tool version 10.0.22621
Copyright (C) 2013 Microsoft Corporation. All rights reserved.

Disk volumes that can be protected with
BitLocker Drive Encryption:
Volume C: [Windows]
[OS Volume]

    Size:                 475.83 GB
    BitLocker Version:    2.0
    Conversion Status:    Fully Encrypted
    Percentage Encrypted: 100.0%
    Encryption Method:    XTS-AES 128
    Protection Status:    Protection On
    Lock Status:          Unlocked
    Identification Field: Unknown
    Key Protectors:
        TPM
        Numerical Password

Volume D: [Data]
[Data Volume]

    Size:                 931.50 GB
    BitLocker Version:    None
    Conversion Status:    Encryption in Progress
    Percentage Encrypted: 12.5%
    Encryption Method:    None
    Protection Status:    Protection Off (1 reboots left)
    Lock Status:          Unlocked
    Identification Field: None
    Automatic Unlock:     Disabled
    Key Protectors:       None Found

Volume E: [USB]
[Removable Data Volume]

    Size:                 28.90 GB
    Conversion Status:    Fully Decrypted
    Protection Status:    Protection Off
";

    #[test]
    fn parses_each_volume() {
        let v = parse_status(TWO_VOLUMES).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].name, "C:");
        assert_eq!(v[0].kind, "OS Volume");
        assert_eq!(v[0].conversion_status.as_deref(), Some("fully_encrypted"));
        assert_eq!(v[0].protection_status.as_deref(), Some("on"));
        assert_eq!(v[1].name, "D:");
        assert_eq!(v[1].conversion_status.as_deref(), Some("encryption_in_progress"));
        assert_eq!(v[1].protection_status.as_deref(), Some("off"));
        assert!(v[1].is_fixed());
        assert!(!v[2].is_fixed());
        assert_eq!(v[2].conversion_status.as_deref(), Some("fully_decrypted"));
    }

    #[test]
    fn access_denied_means_requires_administrator() {
        let out = "BitLocker Drive Encryption: Configuration Tool version 10.0.19041
Copyright (C) 2013 Microsoft Corporation. All rights reserved.

ERROR: An attempt to access a required resource was denied.
Check that you have administrative rights on the computer.
";
        assert_eq!(parse_status(out), Err(BdeError::NeedsAdmin));
    }

    #[test]
    fn unrecognised_output_is_an_error_not_an_empty_pass() {
        let out = "Chiffrement de lecteur BitLocker : outil de configuration\n";
        match parse_status(out) {
            Err(BdeError::Unrecognised(msg)) => assert!(msg.contains("English")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_status(""), Err(BdeError::Unrecognised(_))));
    }
}
