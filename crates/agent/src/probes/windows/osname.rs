//! Windows product naming quirks. Pure and unit-tested.
#![cfg_attr(not(windows), allow(dead_code))]

/// The first build of Windows 11.
pub const WINDOWS_11_FIRST_BUILD: u32 = 22000;

/// The product name to report: Windows 11 still stores "Windows 10 ..." as ProductName in
/// the registry, so builds from 22000 on are renamed.
pub fn product_name(registry_name: &str, build: Option<u32>) -> String {
    match (registry_name.strip_prefix("Windows 10"), build) {
        (Some(rest), Some(b)) if b >= WINDOWS_11_FIRST_BUILD => format!("Windows 11{rest}"),
        _ => registry_name.to_string(),
    }
}

/// "22631" and UBR 2861 → "22631.2861" (the form winver shows); without UBR the build alone.
pub fn build_text(current_build: &str, ubr: Option<i64>) -> String {
    match ubr {
        Some(u) => format!("{current_build}.{u}"),
        None => current_build.to_string(),
    }
}

/// The report header line, e.g. "Windows 11 Pro 23H2 (build 22631.2861)".
pub fn version_text(product: &str, display_version: Option<&str>, build: Option<&str>) -> String {
    let mut s = product.to_string();
    if let Some(dv) = display_version.filter(|d| !d.is_empty()) {
        s.push(' ');
        s.push_str(dv);
    }
    if let Some(b) = build.filter(|b| !b.is_empty()) {
        s.push_str(&format!(" (build {b})"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_11_is_named_from_its_build() {
        assert_eq!(product_name("Windows 10 Pro", Some(22631)), "Windows 11 Pro");
        assert_eq!(
            product_name("Windows 10 Enterprise", Some(22000)),
            "Windows 11 Enterprise"
        );
        assert_eq!(product_name("Windows 10 Pro", Some(19045)), "Windows 10 Pro");
        assert_eq!(product_name("Windows 10 Pro", None), "Windows 10 Pro");
        assert_eq!(
            product_name("Windows Server 2022 Standard", Some(20348)),
            "Windows Server 2022 Standard"
        );
        assert_eq!(
            product_name("Windows 7 Professional", Some(7601)),
            "Windows 7 Professional"
        );
    }

    #[test]
    fn build_and_header_text() {
        assert_eq!(build_text("22631", Some(2861)), "22631.2861");
        assert_eq!(build_text("7601", None), "7601");
        assert_eq!(
            version_text("Windows 11 Pro", Some("23H2"), Some("22631.2861")),
            "Windows 11 Pro 23H2 (build 22631.2861)"
        );
        assert_eq!(
            version_text("Windows 7 Professional", None, Some("7601")),
            "Windows 7 Professional (build 7601)"
        );
    }
}
