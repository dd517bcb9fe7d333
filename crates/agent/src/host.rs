//! Who is being audited: the `host` block of a report.

use vt_policy::Host;

use crate::context::HostContext;

pub fn describe(ctx: &HostContext) -> Host {
    Host {
        hostname: hostname(ctx),
        os: if cfg!(windows) {
            "windows"
        } else {
            std::env::consts::OS
        }
        .to_string(),
        os_version: crate::probes::os_version_text(ctx).unwrap_or_default(),
        arch: std::env::consts::ARCH.to_string(),
    }
}

/// The audited system's host name: the live kernel's, or the image's /etc/hostname.
pub fn hostname(ctx: &HostContext) -> String {
    if ctx.is_live() {
        if let Some(name) = live_hostname() {
            return name;
        }
    }
    ctx.read_text("/etc/hostname")
        .ok()
        .flatten()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(unix)]
fn live_hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            let mut buf = [0u8; 256];
            // SAFETY: the buffer is valid for its whole length and gethostname writes at
            // most that many bytes.
            let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
            if rc != 0 {
                return None;
            }
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            Some(String::from_utf8_lossy(&buf[..end]).into_owned())
        })
}

#[cfg(windows)]
fn live_hostname() -> Option<String> {
    std::env::var("COMPUTERNAME").ok().filter(|s| !s.is_empty())
}
