//! The `os` probe on Windows and the report header's OS version.

use vt_policy::probe::Probe;
use vt_policy::{Observation, Value};
use windows_sys::Win32::NetworkManagement::NetManagement::{
    NERR_Success, NetApiBufferFree, NetGetJoinInformation, NetSetupDomainName,
};
use windows_sys::Win32::System::SystemInformation::{ComputerNameDnsDomain, GetComputerNameExW};

use super::osname::{build_text, product_name, version_text};
use super::registry::{Key, View};
use super::win::{api_error_text, from_wide_buf, from_wide_ptr};
use crate::context::HostContext;
use crate::probes::{error, ProbeResult};

const CURRENT_VERSION: &str = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion";

/// The CurrentVersion values, read once per run.
struct OsInfo(Result<Info, String>);

struct Info {
    product_name: Option<String>,
    edition: Option<String>,
    display_version: Option<String>,
    build: Option<String>,
}

fn read_info() -> Result<Info, String> {
    let key = Key::open(CURRENT_VERSION, View::Bits64)?
        .ok_or_else(|| format!("{CURRENT_VERSION} does not exist"))?;
    let current_build = key.text("CurrentBuild")?.or(key.text("CurrentBuildNumber")?);
    let build_number = current_build.as_deref().and_then(|b| b.parse::<u32>().ok());
    Ok(Info {
        product_name: key.text("ProductName")?.map(|n| product_name(&n, build_number)),
        edition: key.text("EditionID")?,
        // DisplayVersion ("23H2") exists from 20H2 on; older builds only have ReleaseId.
        display_version: key.text("DisplayVersion")?.or(key.text("ReleaseId")?),
        build: current_build.map(|b| build_text(&b, key.int("UBR").ok().flatten())),
    })
}

fn info(ctx: &HostContext) -> std::sync::Arc<OsInfo> {
    ctx.shared(|| OsInfo(read_info()))
}

/// (joined to a domain, domain name): the DNS domain when there is one, else the NetBIOS
/// domain name NetGetJoinInformation reports.
fn domain() -> Result<(bool, Option<String>), String> {
    let mut name: *mut u16 = std::ptr::null_mut();
    let mut status = 0;
    // SAFETY: null server = this machine; the API allocates `name`.
    let rc = unsafe { NetGetJoinInformation(std::ptr::null(), &mut name, &mut status) };
    if rc != NERR_Success {
        return Err(api_error_text("NetGetJoinInformation", rc));
    }
    // SAFETY: on success `name` is a NUL-terminated string owned by us.
    let netbios = unsafe { from_wide_ptr(name) };
    // SAFETY: `name` came from NetGetJoinInformation.
    unsafe { NetApiBufferFree(name.cast()) };
    if status != NetSetupDomainName {
        // A workgroup name is not a domain.
        return Ok((false, None));
    }
    let mut buf = [0u16; 256];
    let mut len = buf.len() as u32;
    // SAFETY: `buf` is valid for `len` units.
    let ok = unsafe { GetComputerNameExW(ComputerNameDnsDomain, buf.as_mut_ptr(), &mut len) };
    // A failure here is not fatal: the NetBIOS name still identifies the domain.
    let dns = if ok != 0 {
        from_wide_buf(&buf[..len as usize])
    } else {
        String::new()
    };
    Ok((true, Some(if dns.is_empty() { netbios } else { dns })))
}

pub fn observe(probe: &Probe, ctx: &HostContext) -> ProbeResult {
    let prop = probe.arg_text();
    let text = |v: &Option<String>| v.clone().map(Observation::text).unwrap_or(Observation::Missing);
    match prop.as_str() {
        "domain" | "domain_joined" => {
            let (joined, name) = domain().map_err(error)?;
            Ok(if prop == "domain_joined" {
                Observation::Scalar(Value::Bool(joined))
            } else {
                name.map(Observation::text).unwrap_or(Observation::Missing)
            })
        }
        "product_name" | "edition" | "display_version" | "build" => {
            let info = info(ctx);
            let i = info.0.as_ref().map_err(|e| error(e.clone()))?;
            Ok(match prop.as_str() {
                "product_name" => text(&i.product_name),
                "edition" => text(&i.edition),
                "display_version" => text(&i.display_version),
                _ => text(&i.build),
            })
        }
        other => Err(error(format!(
            "unknown Windows os property {other:?} (product_name, edition, display_version, build, domain, domain_joined)"
        ))),
    }
}

pub fn os_version_text(ctx: &HostContext) -> Option<String> {
    let info = info(ctx);
    let i = info.0.as_ref().ok()?;
    Some(version_text(
        i.product_name.as_deref()?,
        i.display_version.as_deref(),
        i.build.as_deref(),
    ))
}
