//! Creating, loading and importing the CA's files in the data directory.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use time::OffsetDateTime;

use super::issue::common_name;
use super::serial::random_serial;
use super::{validity, CaError, CertificateAuthority};

pub const CA_DIR: &str = "ca";
const ROOT_CRT: &str = "root.crt";
const ROOT_KEY: &str = "root.key";
const INTERMEDIATE_CRT: &str = "intermediate.crt";
const INTERMEDIATE_KEY: &str = "intermediate.key";
const ROOT_LIFETIME: time::Duration = time::Duration::days(3650);
const INTERMEDIATE_LIFETIME: time::Duration = time::Duration::days(1826);

impl CertificateAuthority {
    /// Loads the CA from `<data_dir>/ca`, creating a new root and intermediate when the
    /// directory holds none of the files. Returns whether it was created.
    pub fn open_or_create(data_dir: &Path, now: OffsetDateTime) -> Result<(Self, bool), CaError> {
        let dir = data_dir.join(CA_DIR);
        let present: Vec<&str> = [ROOT_CRT, ROOT_KEY, INTERMEDIATE_CRT, INTERMEDIATE_KEY]
            .into_iter()
            .filter(|f| dir.join(f).exists())
            .collect();
        if present.is_empty() {
            return Ok((Self::create(&dir, now)?, true));
        }
        Ok((Self::load(&dir)?, false))
    }

    /// Loads an existing CA. `root.key` is optional (offline root); the others are required.
    pub fn load(dir: &Path) -> Result<Self, CaError> {
        let missing: Vec<&str> = [ROOT_CRT, INTERMEDIATE_CRT, INTERMEDIATE_KEY]
            .into_iter()
            .filter(|f| !dir.join(f).exists())
            .collect();
        if !missing.is_empty() {
            return Err(CaError::Incomplete(
                dir.to_path_buf(),
                format!("missing {}", missing.join(", ")),
            ));
        }
        let root_pem = read(&dir.join(ROOT_CRT))?;
        let intermediate_pem = read(&dir.join(INTERMEDIATE_CRT))?;
        let key_path = dir.join(INTERMEDIATE_KEY);
        let key = KeyPair::from_pem(&read(&key_path)?).map_err(|_| CaError::InvalidFile {
            path: key_path,
            what: "private key",
        })?;
        Self::from_parts(root_pem, intermediate_pem, key)
    }

    fn create(dir: &Path, now: OffsetDateTime) -> Result<Self, CaError> {
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let root_params = ca_params(
            "VT-Audit Root CA",
            BasicConstraints::Unconstrained,
            ROOT_LIFETIME,
            now,
        )?;
        let root_cert = root_params.self_signed(&root_key)?;
        let root_issuer = Issuer::new(root_params, &root_key);

        let intermediate_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        // pathlen 0: the intermediate signs leaves only, never another CA.
        let mut intermediate_params = ca_params(
            "VT-Audit Intermediate CA",
            BasicConstraints::Constrained(0),
            INTERMEDIATE_LIFETIME,
            now,
        )?;
        intermediate_params.use_authority_key_identifier_extension = true;
        let intermediate_cert = intermediate_params.signed_by(&intermediate_key, &root_issuer)?;

        create_dir(dir)?;
        // Keys first: a crash between writes leaves an incomplete directory that load()
        // reports, rather than certificates whose keys are lost.
        write_new(&dir.join(ROOT_KEY), &root_key.serialize_pem(), true)?;
        write_new(
            &dir.join(INTERMEDIATE_KEY),
            &intermediate_key.serialize_pem(),
            true,
        )?;
        write_new(&dir.join(ROOT_CRT), &root_cert.pem(), false)?;
        write_new(&dir.join(INTERMEDIATE_CRT), &intermediate_cert.pem(), false)?;
        Self::from_parts(root_cert.pem(), intermediate_cert.pem(), intermediate_key)
    }

    /// Offline-root mode: installs a root certificate (without its key) and an intermediate
    /// certificate and key created elsewhere. Refuses to overwrite an existing CA, and
    /// checks the chain and the key before writing anything.
    pub fn import_intermediate(
        data_dir: &Path,
        root_pem: &str,
        intermediate_pem: &str,
        intermediate_key_pem: &str,
    ) -> Result<Self, CaError> {
        let dir = data_dir.join(CA_DIR);
        if [ROOT_CRT, ROOT_KEY, INTERMEDIATE_CRT, INTERMEDIATE_KEY]
            .iter()
            .any(|f| dir.join(f).exists())
        {
            return Err(CaError::Incomplete(
                dir,
                "already contains a CA; refusing to overwrite".into(),
            ));
        }
        let key = KeyPair::from_pem(intermediate_key_pem).map_err(|_| CaError::InvalidFile {
            path: PathBuf::from("intermediate key"),
            what: "private key",
        })?;
        let ca = Self::from_parts(root_pem.to_string(), intermediate_pem.to_string(), key)?;
        create_dir(&dir)?;
        write_new(&dir.join(INTERMEDIATE_KEY), intermediate_key_pem, true)?;
        write_new(&dir.join(ROOT_CRT), root_pem, false)?;
        write_new(&dir.join(INTERMEDIATE_CRT), intermediate_pem, false)?;
        Ok(ca)
    }
}

fn ca_params(
    cn: &str,
    constraints: BasicConstraints,
    lifetime: time::Duration,
    now: OffsetDateTime,
) -> Result<CertificateParams, CaError> {
    let (not_before, not_after) = validity(now, lifetime);
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "VT-Audit");
    params.is_ca = IsCa::Ca(constraints);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(random_serial()?.0);
    Ok(params)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CaError + '_ {
    move |source| CaError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read(path: &Path) -> Result<String, CaError> {
    fs::read_to_string(path).map_err(io_error(path))
}

fn create_dir(dir: &Path) -> Result<(), CaError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_error(dir))?;
    }
    Ok(())
}

/// Writes a file that must not exist yet; secrets get mode 0600 from the moment they exist.
fn write_new(path: &Path, contents: &str, secret: bool) -> Result<(), CaError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(io_error(path))?;
    file.write_all(contents.as_bytes()).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}
