//! The `installed_software` probe: the Uninstall keys Programs and Features reads, scanned
//! once per run however many rules ask.

use vt_policy::probe::Probe;
use vt_policy::{Observation, Value};

use super::name_glob;
use super::registry::{Key, View};
use crate::context::HostContext;
use crate::probes::{error, ProbeResult};

const UNINSTALL: &str = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall";

/// One installed product (an Uninstall subkey with a DisplayName).
#[derive(Debug, Clone)]
struct Product {
    name: String,
    version: Option<String>,
    publisher: Option<String>,
}

/// The whole inventory, or why it could not be read.
struct Inventory(Result<Vec<Product>, String>);

/// The three places products register: 64-bit machine-wide, 32-bit machine-wide (the
/// WOW6432Node view) and per-user installs of the account the agent runs as.
fn sources() -> [(String, View); 3] {
    [
        (format!("HKLM\\{UNINSTALL}"), View::Bits64),
        (format!("HKLM\\{UNINSTALL}"), View::Bits32),
        (format!("HKCU\\{UNINSTALL}"), View::Bits64),
    ]
}

fn scan() -> Result<Vec<Product>, String> {
    let mut out = Vec::new();
    // The agent is a 64-bit program, so the two HKLM views are different keys (a 32-bit
    // agent on 32-bit Windows would read the same key twice).
    for (path, view) in sources().iter() {
        let Some(root) = Key::open(path, *view)? else {
            continue;
        };
        for sub in root.subkeys()? {
            let Some(entry) = Key::open(&format!("{path}\\{sub}"), *view)? else {
                continue;
            };
            // Entries without a DisplayName are not shown as installed programs by Windows
            // (patch records, partial installs), so they are not products here either.
            let Some(name) = entry.text("DisplayName")?.filter(|n| !n.trim().is_empty()) else {
                continue;
            };
            out.push(Product {
                name,
                version: entry.text("DisplayVersion")?.filter(|v| !v.is_empty()),
                publisher: entry.text("Publisher")?.filter(|p| !p.is_empty()),
            });
        }
    }
    out.sort_by_key(|p| p.name.to_lowercase());
    Ok(out)
}

pub fn observe(probe: &Probe, ctx: &HostContext) -> ProbeResult {
    let name_matcher = name_glob(&probe.arg_text()).map_err(error)?;
    let publisher_matcher = probe
        .text_param("publisher")
        .map(name_glob)
        .transpose()
        .map_err(error)?;
    let inventory = ctx.shared(|| Inventory(scan()));
    let products = inventory
        .0
        .as_ref()
        .map_err(|e| error(format!("installed software: {e}")))?;
    let property = probe.property().unwrap_or("version");
    let mut values = Vec::new();
    for p in products {
        if !name_matcher.is_match(&p.name) {
            continue;
        }
        if let Some(m) = &publisher_matcher {
            if !p.publisher.as_deref().is_some_and(|pubr| m.is_match(pubr)) {
                continue;
            }
        }
        // A matching product without DisplayVersion/Publisher is still installed: it
        // reports an empty text (which fails version comparisons) rather than vanishing.
        let value = match property {
            "name" => p.name.clone(),
            "publisher" => p.publisher.clone().unwrap_or_default(),
            _ => p.version.clone().unwrap_or_default(),
        };
        values.push(Value::Text(value));
    }
    Ok(Observation::list_or_missing(values))
}
