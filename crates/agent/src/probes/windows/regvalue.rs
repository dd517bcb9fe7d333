//! Registry value decoding and `%VAR%` expansion: pure functions over the raw bytes that
//! `RegQueryValueExW` returns, so they are unit-tested on every platform.
#![cfg_attr(not(windows), allow(dead_code))]

pub const REG_NONE: u32 = 0;
pub const REG_SZ: u32 = 1;
pub const REG_EXPAND_SZ: u32 = 2;
pub const REG_BINARY: u32 = 3;
pub const REG_DWORD: u32 = 4;
pub const REG_DWORD_BIG_ENDIAN: u32 = 5;
pub const REG_LINK: u32 = 6;
pub const REG_MULTI_SZ: u32 = 7;
pub const REG_QWORD: u32 = 11;

/// A decoded registry value, before it becomes an observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegData {
    Int(i64),
    /// A QWORD above `i64::MAX`: kept exact as text (text that looks like a number still
    /// compares numerically).
    BigUnsigned(u64),
    Text(String),
    /// REG_EXPAND_SZ before expansion; the caller expands it with the live environment.
    Expandable(String),
    List(Vec<String>),
    /// Binary and every other type: uppercase hex of the raw bytes.
    Hex(String),
}

/// The name policies use for a value type (`property: type`), as `reg query` prints it.
pub fn type_name(kind: u32) -> String {
    match kind {
        REG_NONE => "REG_NONE".into(),
        REG_SZ => "REG_SZ".into(),
        REG_EXPAND_SZ => "REG_EXPAND_SZ".into(),
        REG_BINARY => "REG_BINARY".into(),
        REG_DWORD => "REG_DWORD".into(),
        REG_DWORD_BIG_ENDIAN => "REG_DWORD_BIG_ENDIAN".into(),
        REG_LINK => "REG_LINK".into(),
        REG_MULTI_SZ => "REG_MULTI_SZ".into(),
        8 => "REG_RESOURCE_LIST".into(),
        9 => "REG_FULL_RESOURCE_DESCRIPTOR".into(),
        10 => "REG_RESOURCE_REQUIREMENTS_LIST".into(),
        REG_QWORD => "REG_QWORD".into(),
        other => format!("REG_UNKNOWN({other})"),
    }
}

/// Decodes one value. Errors describe malformed data (a DWORD that is not 4 bytes...), which
/// the registry allows because it stores whatever the writer passed.
pub fn decode(kind: u32, data: &[u8]) -> Result<RegData, String> {
    Ok(match kind {
        REG_DWORD => RegData::Int(i64::from(u32::from_le_bytes(fixed::<4>(data, "REG_DWORD")?))),
        REG_DWORD_BIG_ENDIAN => RegData::Int(i64::from(u32::from_be_bytes(fixed::<4>(
            data,
            "REG_DWORD_BIG_ENDIAN",
        )?))),
        REG_QWORD => {
            let v = u64::from_le_bytes(fixed::<8>(data, "REG_QWORD")?);
            match i64::try_from(v) {
                Ok(i) => RegData::Int(i),
                Err(_) => RegData::BigUnsigned(v),
            }
        }
        REG_SZ => RegData::Text(utf16_string(data)),
        REG_EXPAND_SZ => RegData::Expandable(utf16_string(data)),
        REG_MULTI_SZ => RegData::List(multi_sz(data)),
        _ => RegData::Hex(hex_upper(data)),
    })
}

fn fixed<const N: usize>(data: &[u8], what: &str) -> Result<[u8; N], String> {
    data.try_into()
        .map_err(|_| format!("malformed {what} value: {} bytes instead of {N}", data.len()))
}

fn utf16_units(data: &[u8]) -> Vec<u16> {
    // An odd trailing byte cannot be part of a UTF-16 unit; writers that store one made a
    // mistake, and Windows itself ignores it when reading strings.
    data.chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// A REG_SZ: up to the first NUL (the terminator is optional in stored data).
pub fn utf16_string(data: &[u8]) -> String {
    let units = utf16_units(data);
    let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
    String::from_utf16_lossy(&units[..end])
}

/// A REG_MULTI_SZ: NUL-separated strings ending with an empty string. An empty string ends
/// the list, as it does for every Windows reader of the type.
pub fn multi_sz(data: &[u8]) -> Vec<String> {
    let units = utf16_units(data);
    let mut out = Vec::new();
    for part in units.split(|&u| u == 0) {
        if part.is_empty() {
            break;
        }
        out.push(String::from_utf16_lossy(part));
    }
    out
}

pub fn hex_upper(data: &[u8]) -> String {
    hex::encode_upper(data)
}

/// `%NAME%` expansion with the semantics of `ExpandEnvironmentStringsW`: names are looked up
/// by `lookup` (case-insensitive on Windows), undefined variables and unpaired `%` are kept
/// as written. The live agent calls the Win32 function; this is the same rule for tests and
/// the fallback when the call fails.
pub fn expand_percent_vars(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('%') {
            None => {
                // No closing `%`: the remainder is literal text.
                out.push_str(&rest[start..]);
                return out;
            }
            Some(len) => {
                let name = &after[..len];
                match (!name.is_empty()).then(|| lookup(name)).flatten() {
                    Some(value) => {
                        out.push_str(&value);
                        rest = &after[len + 1..];
                    }
                    None => {
                        // Keep the `%` and the name; the closing `%` may open the next
                        // variable, as in "%NOT_SET%%WINDIR%".
                        out.push('%');
                        out.push_str(name);
                        rest = &after[len..];
                    }
                }
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16z(parts: &[&str]) -> Vec<u8> {
        let mut v = Vec::new();
        for p in parts {
            for u in p.encode_utf16() {
                v.extend_from_slice(&u.to_le_bytes());
            }
            v.extend_from_slice(&[0, 0]);
        }
        v
    }

    #[test]
    fn dword_and_qword_become_integers() {
        assert_eq!(decode(REG_DWORD, &[1, 0, 0, 0]), Ok(RegData::Int(1)));
        assert_eq!(decode(REG_DWORD, &[0xff; 4]), Ok(RegData::Int(4_294_967_295)));
        assert_eq!(decode(REG_DWORD_BIG_ENDIAN, &[0, 0, 1, 0]), Ok(RegData::Int(256)));
        assert_eq!(decode(REG_QWORD, &300u64.to_le_bytes()), Ok(RegData::Int(300)));
        assert_eq!(
            decode(REG_QWORD, &u64::MAX.to_le_bytes()),
            Ok(RegData::BigUnsigned(u64::MAX))
        );
        assert!(decode(REG_DWORD, &[1, 0])
            .unwrap_err()
            .contains("2 bytes instead of 4"));
        assert!(decode(REG_QWORD, &[1, 0, 0, 0]).is_err());
    }

    #[test]
    fn strings_stop_at_the_terminator_which_is_optional() {
        assert_eq!(
            decode(REG_SZ, &utf16z(&["Windows 10 Pro"])),
            Ok(RegData::Text("Windows 10 Pro".into()))
        );
        let mut no_nul = utf16z(&["abc"]);
        no_nul.truncate(6);
        assert_eq!(decode(REG_SZ, &no_nul), Ok(RegData::Text("abc".into())));
        // An odd trailing byte is ignored rather than turned into garbage.
        no_nul.push(0x41);
        assert_eq!(utf16_string(&no_nul), "abc");
        assert_eq!(decode(REG_SZ, &[]), Ok(RegData::Text(String::new())));
        assert_eq!(utf16_string(&utf16z(&["Grüße ✓"])), "Grüße ✓");
        assert_eq!(
            decode(REG_EXPAND_SZ, &utf16z(&["%SystemRoot%\\x"])),
            Ok(RegData::Expandable("%SystemRoot%\\x".into()))
        );
    }

    #[test]
    fn multi_sz_splits_and_ends_at_the_empty_string() {
        let mut data = utf16z(&["one", "two words", "three"]);
        data.extend_from_slice(&[0, 0]);
        assert_eq!(
            decode(REG_MULTI_SZ, &data),
            Ok(RegData::List(vec![
                "one".into(),
                "two words".into(),
                "three".into()
            ]))
        );
        assert_eq!(multi_sz(&[0, 0]), Vec::<String>::new());
        assert_eq!(multi_sz(&[]), Vec::<String>::new());
        // Missing final terminators still give the last item.
        assert_eq!(
            multi_sz(
                &"a".encode_utf16()
                    .flat_map(|u| u.to_le_bytes())
                    .collect::<Vec<_>>()
            ),
            vec!["a"]
        );
    }

    #[test]
    fn binary_and_unknown_types_are_uppercase_hex() {
        assert_eq!(
            decode(REG_BINARY, &[0x01, 0xab, 0xff]),
            Ok(RegData::Hex("01ABFF".into()))
        );
        assert_eq!(decode(REG_NONE, &[]), Ok(RegData::Hex(String::new())));
        assert_eq!(decode(8, &[0x0a]), Ok(RegData::Hex("0A".into())));
        assert_eq!(type_name(REG_QWORD), "REG_QWORD");
        assert_eq!(type_name(99), "REG_UNKNOWN(99)");
    }

    fn env(name: &str) -> Option<String> {
        match name.to_ascii_uppercase().as_str() {
            "SYSTEMROOT" => Some("C:\\Windows".into()),
            "EMPTY" => Some(String::new()),
            "PCT" => Some("%SYSTEMROOT%".into()),
            _ => None,
        }
    }

    #[test]
    fn percent_expansion_follows_windows_rules() {
        assert_eq!(
            expand_percent_vars("%SystemRoot%\\System32", env),
            "C:\\Windows\\System32"
        );
        assert_eq!(expand_percent_vars("%systemroot%", env), "C:\\Windows");
        // Undefined variables stay as written.
        assert_eq!(expand_percent_vars("%NOPE%\\x", env), "%NOPE%\\x");
        // The closing `%` of an undefined name can open the next variable.
        assert_eq!(expand_percent_vars("%NOPE%SystemRoot%", env), "%NOPEC:\\Windows");
        assert_eq!(
            expand_percent_vars("%NOPE%%SystemRoot%", env),
            "%NOPE%C:\\Windows"
        );
        // Unpaired and doubled percent signs are literal.
        assert_eq!(expand_percent_vars("100%", env), "100%");
        assert_eq!(expand_percent_vars("50%% off", env), "50%% off");
        assert_eq!(expand_percent_vars("a%EMPTY%b", env), "ab");
        // Expansion is one pass: a value containing %VAR% is not expanded again.
        assert_eq!(expand_percent_vars("%PCT%", env), "%SYSTEMROOT%");
        // Unix-style variables are not Windows syntax (the original agent's bug).
        assert_eq!(expand_percent_vars("$SYSTEMROOT", env), "$SYSTEMROOT");
        assert_eq!(expand_percent_vars("", env), "");
    }
}
