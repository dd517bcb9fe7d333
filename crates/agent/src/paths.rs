//! Where the agent keeps its files: never relative to the working directory (under the
//! Service Control Manager that is System32), and private keys readable only by the
//! system's administrators.
// The `run` command and enrolment (wired separately) use these; until then only tests do.
#![cfg_attr(not(test), allow(dead_code))]

use std::io;
use std::path::{Path, PathBuf};

/// Overrides the data directory (tests, portable installs); must be an absolute path.
pub const DATA_DIR_ENV: &str = "VT_AUDIT_DATA_DIR";

fn from_env() -> io::Result<Option<PathBuf>> {
    match std::env::var_os(DATA_DIR_ENV) {
        Some(v) if !v.is_empty() => {
            let p = PathBuf::from(v);
            if !p.is_absolute() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{DATA_DIR_ENV} must be an absolute path, got {}", p.display()),
                ));
            }
            Ok(Some(p))
        }
        _ => Ok(None),
    }
}

/// `%ProgramData%\VT-Audit` on Windows, `/var/lib/vt-audit` elsewhere.
pub fn data_dir() -> io::Result<PathBuf> {
    if let Some(p) = from_env()? {
        return Ok(p);
    }
    #[cfg(windows)]
    return Ok(win::program_data()?.join("VT-Audit"));
    #[cfg(not(windows))]
    return Ok(PathBuf::from("/var/lib/vt-audit"));
}

/// `%ProgramData%\VT-Audit\agent.toml` on Windows, `/etc/vt-audit/agent.toml` elsewhere.
pub fn config_file() -> io::Result<PathBuf> {
    #[cfg(windows)]
    return Ok(data_dir()?.join("agent.toml"));
    #[cfg(not(windows))]
    return Ok(PathBuf::from("/etc/vt-audit/agent.toml"));
}

/// `<data>/logs`.
pub fn log_dir() -> io::Result<PathBuf> {
    Ok(data_dir()?.join("logs"))
}

/// Makes `path` (a file or directory) accessible only to its administrators: mode 0600
/// (0700 for a directory) on Unix; on Windows a protected DACL granting full control to
/// SYSTEM and Administrators only, with inherited entries removed.
pub fn restrict_to_owner(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if std::fs::metadata(path)?.is_dir() {
            0o700
        } else {
            0o600
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(windows)]
    {
        win::restrict(path)
    }
}

#[cfg(windows)]
mod win {
    use std::io;
    use std::os::windows::ffi::OsStrExt;
    use std::path::{Path, PathBuf};

    use windows_sys::Win32::Foundation::{LocalFree, GENERIC_ALL};
    use windows_sys::Win32::Security::Authorization::{
        SetEntriesInAclW, SetNamedSecurityInfoW, EXPLICIT_ACCESS_W, NO_MULTIPLE_TRUSTEE, SET_ACCESS,
        SE_FILE_OBJECT, TRUSTEE_IS_SID, TRUSTEE_IS_WELL_KNOWN_GROUP, TRUSTEE_W,
    };
    use windows_sys::Win32::Security::{
        CreateWellKnownSid, WinBuiltinAdministratorsSid, WinLocalSystemSid, ACL, DACL_SECURITY_INFORMATION,
        NO_INHERITANCE, PROTECTED_DACL_SECURITY_INFORMATION, SECURITY_MAX_SID_SIZE,
        SUB_CONTAINERS_AND_OBJECTS_INHERIT, WELL_KNOWN_SID_TYPE,
    };
    use windows_sys::Win32::System::Com::CoTaskMemFree;
    use windows_sys::Win32::UI::Shell::{FOLDERID_ProgramData, SHGetKnownFolderPath};

    /// The ProgramData folder from the shell (the authoritative source), else from the
    /// environment; never a relative path.
    pub fn program_data() -> io::Result<PathBuf> {
        let mut p: *mut u16 = std::ptr::null_mut();
        // SAFETY: valid GUID pointer and out-pointer; null token = the current user.
        let hr = unsafe { SHGetKnownFolderPath(&FOLDERID_ProgramData, 0, std::ptr::null_mut(), &mut p) };
        let shell = if hr >= 0 && !p.is_null() {
            // SAFETY: on success `p` is a NUL-terminated string we own.
            Some(PathBuf::from(unsafe {
                crate::probes::windows::win::from_wide_ptr(p)
            }))
        } else {
            None
        };
        // SAFETY: SHGetKnownFolderPath documents CoTaskMemFree for `p`, even on failure.
        unsafe { CoTaskMemFree(p.cast()) };
        let candidate = shell.or_else(|| std::env::var_os("ProgramData").map(PathBuf::from));
        match candidate {
            Some(p) if p.is_absolute() => Ok(p),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "cannot find the ProgramData folder",
            )),
        }
    }

    fn well_known(kind: WELL_KNOWN_SID_TYPE) -> io::Result<Vec<u8>> {
        let mut sid = vec![0u8; SECURITY_MAX_SID_SIZE as usize];
        let mut len = sid.len() as u32;
        // SAFETY: `sid` is valid for `len` bytes; no domain SID is needed for these kinds.
        if unsafe { CreateWellKnownSid(kind, std::ptr::null_mut(), sid.as_mut_ptr().cast(), &mut len) } == 0 {
            return Err(io::Error::last_os_error());
        }
        sid.truncate(len as usize);
        Ok(sid)
    }

    pub fn restrict(path: &Path) -> io::Result<()> {
        let mut system = well_known(WinLocalSystemSid)?;
        let mut admins = well_known(WinBuiltinAdministratorsSid)?;
        // Directories pass the same entries on to what is created inside them.
        let inherit = if std::fs::metadata(path)?.is_dir() {
            SUB_CONTAINERS_AND_OBJECTS_INHERIT
        } else {
            NO_INHERITANCE
        };
        let entry = |sid: &mut Vec<u8>| EXPLICIT_ACCESS_W {
            grfAccessPermissions: GENERIC_ALL,
            grfAccessMode: SET_ACCESS,
            grfInheritance: inherit,
            Trustee: TRUSTEE_W {
                pMultipleTrustee: std::ptr::null_mut(),
                MultipleTrusteeOperation: NO_MULTIPLE_TRUSTEE,
                TrusteeForm: TRUSTEE_IS_SID,
                TrusteeType: TRUSTEE_IS_WELL_KNOWN_GROUP,
                ptstrName: sid.as_mut_ptr().cast(),
            },
        };
        let entries = [entry(&mut system), entry(&mut admins)];
        let mut acl: *mut ACL = std::ptr::null_mut();
        // SAFETY: `entries` (and the SIDs they point to) outlive the call; a null old ACL
        // builds a new ACL from these entries only.
        let rc =
            unsafe { SetEntriesInAclW(entries.len() as u32, entries.as_ptr(), std::ptr::null(), &mut acl) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc as i32));
        }
        let w: Vec<u16> = path.as_os_str().encode_wide().chain(std::iter::once(0)).collect();
        // SAFETY: `w` is NUL-terminated and `acl` is the ACL built above. PROTECTED_DACL
        // removes inherited entries (e.g. "Users: read" from ProgramData).
        let rc = unsafe {
            SetNamedSecurityInfoW(
                w.as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                acl,
                std::ptr::null(),
            )
        };
        // SAFETY: `acl` was allocated by SetEntriesInAclW with LocalAlloc.
        unsafe { LocalFree(acl.cast()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc as i32));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_locations_are_absolute() {
        if std::env::var_os(DATA_DIR_ENV).is_none() {
            assert_eq!(data_dir().unwrap(), PathBuf::from("/var/lib/vt-audit"));
        }
        assert_eq!(config_file().unwrap(), PathBuf::from("/etc/vt-audit/agent.toml"));
        assert!(log_dir().unwrap().is_absolute());
    }

    #[cfg(unix)]
    #[test]
    fn restrict_to_owner_sets_private_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("agent.key");
        std::fs::write(&key, b"secret").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        restrict_to_owner(&key).unwrap();
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        restrict_to_owner(dir.path()).unwrap();
        assert_eq!(
            std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}
