//! The agent as a systemd service on Linux: a hardened unit file and the usual verbs.
//! The agent must read the whole system but only ever writes its data directory, so the
//! unit makes everything else read-only and drops every capability but reading files.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use super::{DESCRIPTION, DISPLAY_NAME, SERVICE_NAME};

/// Overrides where the unit file goes (tests, image builds).
pub const UNIT_DIR_ENV: &str = "VT_AUDIT_SYSTEMD_DIR";

pub fn unit_path() -> PathBuf {
    let dir = std::env::var_os(UNIT_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| "/etc/systemd/system".into());
    dir.join(format!("{SERVICE_NAME}.service"))
}

pub fn unit_file(exe: &Path) -> String {
    format!(
        "# {DESCRIPTION}
[Unit]
Description={DISPLAY_NAME}
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={exe} run
Restart=on-failure
RestartSec=30
TimeoutStopSec=30
StateDirectory=vt-audit
StateDirectoryMode=0700
ConfigurationDirectory=vt-audit
UMask=0077
# Read everything, write only /var/lib/vt-audit.
ProtectSystem=strict
ReadWritePaths=/var/lib/vt-audit
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
NoNewPrivileges=yes
# Reading files such as /etc/shadow needs only this capability.
CapabilityBoundingSet=CAP_DAC_READ_SEARCH
AmbientCapabilities=
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX

[Install]
WantedBy=multi-user.target
",
        exe = exe.display()
    )
}

fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

fn systemctl(args: &[&str]) -> anyhow::Result<std::process::Output> {
    Command::new("systemctl")
        .args(args)
        .output()
        .with_context(|| format!("cannot run systemctl {}", args.join(" ")))
}

fn systemctl_ok(args: &[&str]) -> anyhow::Result<()> {
    let out = systemctl(args)?;
    if !out.status.success() {
        bail!(
            "systemctl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

pub fn install() -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot find the agent's own path")?;
    let path = unit_path();
    crate::output::write_atomically(&path, unit_file(&exe).as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    if !systemd_running() {
        return Ok(format!(
            "wrote {}; systemd is not running here, so enable it later with `systemctl enable --now {SERVICE_NAME}`",
            path.display()
        ));
    }
    systemctl_ok(&["daemon-reload"])?;
    systemctl_ok(&["enable", SERVICE_NAME])?;
    Ok(format!(
        "installed and enabled {SERVICE_NAME} ({})",
        path.display()
    ))
}

pub fn uninstall() -> anyhow::Result<String> {
    let path = unit_path();
    if systemd_running() {
        // Stopping a unit that is not running is not an error worth reporting.
        let _ = systemctl(&["disable", "--now", SERVICE_NAME]);
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("{SERVICE_NAME} is not installed"),
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
    if systemd_running() {
        systemctl_ok(&["daemon-reload"])?;
    }
    Ok(format!("removed {}", path.display()))
}

pub fn start() -> anyhow::Result<String> {
    require_systemd()?;
    systemctl_ok(&["start", SERVICE_NAME])?;
    Ok(format!("started {SERVICE_NAME}"))
}

pub fn stop() -> anyhow::Result<String> {
    require_systemd()?;
    systemctl_ok(&["stop", SERVICE_NAME])?;
    Ok(format!("stopped {SERVICE_NAME}"))
}

/// The state word and whether it is running.
pub fn status() -> anyhow::Result<(String, bool)> {
    if !unit_path().exists() {
        return Ok(("not installed".into(), false));
    }
    if !systemd_running() {
        return Ok(("installed (systemd is not running here)".into(), false));
    }
    let out = systemctl(&["is-active", SERVICE_NAME])?;
    let word = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let running = word == "active";
    Ok((word, running))
}

fn require_systemd() -> anyhow::Result<()> {
    if !systemd_running() {
        bail!("systemd is not running on this host");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_is_hardened_and_runs_the_agent() {
        let unit = unit_file(Path::new("/usr/local/bin/vt-agent"));
        assert!(unit.contains("ExecStart=/usr/local/bin/vt-agent run\n"));
        for line in [
            "ProtectSystem=strict",
            "ReadWritePaths=/var/lib/vt-audit",
            "NoNewPrivileges=yes",
            "CapabilityBoundingSet=CAP_DAC_READ_SEARCH",
            "WantedBy=multi-user.target",
        ] {
            assert!(unit.lines().any(|l| l == line), "missing {line}");
        }
    }
}
