//! The CA's output checked with an independent parser (x509-parser), not with rcgen.

use ::time::macros::datetime;
use ::time::Duration;
use rcgen::{CertificateParams, KeyPair};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::*;

use super::*;

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

fn new_ca() -> (tempfile::TempDir, CertificateAuthority) {
    let dir = tempfile::tempdir().unwrap();
    let (ca, created) = CertificateAuthority::open_or_create(dir.path(), NOW).unwrap();
    assert!(created);
    (dir, ca)
}

fn csr(alg: &'static rcgen::SignatureAlgorithm, cn: &str, sans: &[&str]) -> String {
    let key = KeyPair::generate_for(alg).unwrap();
    let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name = issue::common_name(cn);
    params.serialize_request(&key).unwrap().pem().unwrap()
}

fn request<'a>(csr_pem: &'a str, sans: &'a [String]) -> LeafRequest<'a> {
    LeafRequest {
        csr_pem,
        agent_id: "agent-1",
        sans,
        lifetime: DEFAULT_LEAF_LIFETIME,
        now: NOW,
    }
}

fn agent_sans() -> Vec<String> {
    vec!["agent-1".to_string()]
}

#[test]
fn created_chain_verifies_and_reloads_identically() {
    let (dir, ca) = new_ca();
    let (_, root) = X509Certificate::from_der(ca.root_der()).unwrap();
    let (_, intermediate) = X509Certificate::from_der(ca.intermediate_der()).unwrap();
    root.verify_signature(None).unwrap();
    intermediate.verify_signature(Some(root.public_key())).unwrap();
    assert!(root.is_ca());
    let constraints = intermediate.basic_constraints().unwrap().unwrap().value;
    assert!(constraints.ca);
    assert_eq!(constraints.path_len_constraint, Some(0));
    assert_eq!(
        root.validity().not_before.timestamp(),
        (NOW - BACKDATE).unix_timestamp()
    );
    assert_eq!(
        root.validity().not_after.timestamp(),
        (NOW + Duration::days(3650)).unix_timestamp()
    );

    let fingerprint = ca.root_fingerprint();
    assert_eq!(fingerprint.len(), 64);
    assert!(fingerprint
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));

    let (reloaded, created) = CertificateAuthority::open_or_create(dir.path(), NOW).unwrap();
    assert!(!created);
    assert_eq!(reloaded.root_fingerprint(), fingerprint);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in ["root.key", "intermediate.key"] {
            let mode = std::fs::metadata(dir.path().join(CA_DIR).join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
    }
}

#[test]
fn agent_certificate_has_identity_eku_validity_and_chain() {
    let (_dir, ca) = new_ca();
    let sans = agent_sans();
    let csr_pem = csr(&rcgen::PKCS_ECDSA_P256_SHA256, "agent-1", &["agent-1"]);
    let issued = ca.issue_agent_certificate(&request(&csr_pem, &sans)).unwrap();

    let (_, leaf) = X509Certificate::from_der(&issued.der).unwrap();
    let (_, intermediate) = X509Certificate::from_der(ca.intermediate_der()).unwrap();
    leaf.verify_signature(Some(intermediate.public_key())).unwrap();
    assert!(!leaf.is_ca());
    assert_eq!(
        leaf.subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap(),
        "agent-1"
    );
    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    let san = leaf.subject_alternative_name().unwrap().unwrap().value;
    assert_eq!(san.general_names, vec![GeneralName::DNSName("agent-1")]);
    assert_eq!(
        leaf.validity().not_before.timestamp(),
        (NOW - BACKDATE).unix_timestamp()
    );
    assert_eq!(
        leaf.validity().not_after.timestamp(),
        (NOW + DEFAULT_LEAF_LIFETIME).unix_timestamp()
    );
    assert_eq!(hex::encode(leaf.raw_serial()), issued.serial);
    assert_eq!(issued.serial.len(), 32, "128-bit serial");
    assert_eq!(
        issued.chain_pem,
        vec![issued.pem.clone(), ca.intermediate_pem().to_string()]
    );

    let again = ca.issue_agent_certificate(&request(&csr_pem, &sans)).unwrap();
    assert_ne!(again.serial, issued.serial);
}

#[test]
fn accepted_key_types() {
    let (_dir, ca) = new_ca();
    let sans = agent_sans();
    for alg in [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_ED25519,
    ] {
        let csr_pem = csr(alg, "agent-1", &[]);
        ca.issue_agent_certificate(&request(&csr_pem, &sans))
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
    }
    let rsa2048 = include_str!("testdata/rsa2048.csr");
    ca.issue_agent_certificate(&request(rsa2048, &sans)).unwrap();
}

#[test]
fn rejected_key_types_and_bad_csrs() {
    let (_dir, ca) = new_ca();
    let sans = agent_sans();
    for (name, pem) in [
        ("rsa1024", include_str!("testdata/rsa1024.csr")),
        ("p521", include_str!("testdata/p521.csr")),
        ("secp256k1", include_str!("testdata/secp256k1.csr")),
    ] {
        let err = ca.issue_agent_certificate(&request(pem, &sans)).err();
        assert!(matches!(err, Some(CaError::KeyType(_))), "{name}: {err:?}");
    }

    // Flip a byte in the signature: proof of possession fails.
    let good = csr(&rcgen::PKCS_ECDSA_P256_SHA256, "agent-1", &[]);
    let (_, parsed) = x509_parser::pem::parse_x509_pem(good.as_bytes()).unwrap();
    let mut der = parsed.contents.clone();
    let last = der.len() - 3;
    der[last] ^= 0x01;
    let tampered = pem_encode("CERTIFICATE REQUEST", &der);
    assert!(matches!(
        ca.issue_agent_certificate(&request(&tampered, &sans)),
        Err(CaError::InvalidCsr(_))
    ));
    assert!(matches!(
        ca.issue_agent_certificate(&request("garbage", &sans)),
        Err(CaError::InvalidCsr(_))
    ));
}

#[test]
fn csr_names_must_match_the_token() {
    let (_dir, ca) = new_ca();
    let sans = agent_sans();
    let other_cn = csr(&rcgen::PKCS_ECDSA_P256_SHA256, "agent-2", &[]);
    assert!(matches!(
        ca.issue_agent_certificate(&request(&other_cn, &sans)),
        Err(CaError::NameMismatch(_))
    ));
    let extra_san = csr(
        &rcgen::PKCS_ECDSA_P256_SHA256,
        "agent-1",
        &["agent-1", "evil.example"],
    );
    assert!(matches!(
        ca.issue_agent_certificate(&request(&extra_san, &sans)),
        Err(CaError::NameMismatch(_))
    ));
}

#[test]
fn server_certificate_covers_configured_names_and_loopback() {
    let (_dir, ca) = new_ca();
    let server = ca
        .issue_server_certificate(&["audit.example.com".into()], Duration::days(365), NOW)
        .unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(server.chain_pem.as_bytes()).unwrap();
    let (_, leaf) = X509Certificate::from_der(&pem.contents).unwrap();
    let (_, intermediate) = X509Certificate::from_der(ca.intermediate_der()).unwrap();
    leaf.verify_signature(Some(intermediate.public_key())).unwrap();
    assert!(leaf.extended_key_usage().unwrap().unwrap().value.server_auth);
    let names: Vec<String> = leaf
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => d.to_string(),
            GeneralName::IPAddress(ip) => format!("{ip:?}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        names[..2],
        ["audit.example.com".to_string(), "localhost".to_string()]
    );
    assert_eq!(names.len(), 4, "plus 127.0.0.1 and ::1: {names:?}");
    assert!(KeyPair::from_pem(&server.key_pem).is_ok());
}

#[test]
fn crl_lists_revoked_serials_and_is_signed_by_the_intermediate() {
    let (_dir, ca) = new_ca();
    let sans = agent_sans();
    let csr_pem = csr(&rcgen::PKCS_ECDSA_P256_SHA256, "agent-1", &[]);
    let a = ca.issue_agent_certificate(&request(&csr_pem, &sans)).unwrap();
    let b = ca.issue_agent_certificate(&request(&csr_pem, &sans)).unwrap();
    let revoked = [
        RevokedSerial {
            serial: &a.serial,
            revoked_at: NOW,
            reason: Some("key_compromise"),
        },
        RevokedSerial {
            serial: &b.serial,
            revoked_at: NOW,
            reason: Some("something_local"),
        },
    ];
    let der = ca.crl_der(&revoked, 7, NOW, Duration::hours(1)).unwrap();
    let (_, crl) = CertificateRevocationList::from_der(&der).unwrap();
    let (_, intermediate) = X509Certificate::from_der(ca.intermediate_der()).unwrap();
    crl.verify_signature(intermediate.public_key()).unwrap();
    let serials: Vec<String> = crl
        .iter_revoked_certificates()
        .map(|r| hex::encode(r.raw_serial()))
        .collect();
    assert_eq!(serials, vec![a.serial.clone(), b.serial.clone()]);
    assert_eq!(crl.crl_number().map(|n| n.to_string()), Some("7".to_string()));
    assert_eq!(
        crl.next_update().map(|t| t.timestamp()),
        Some((NOW + Duration::hours(1)).unix_timestamp())
    );
}

#[test]
fn offline_root_import() {
    let (source_dir, source) = new_ca();
    let key_pem = std::fs::read_to_string(source_dir.path().join(CA_DIR).join("intermediate.key")).unwrap();
    let target = tempfile::tempdir().unwrap();
    let imported = CertificateAuthority::import_intermediate(
        target.path(),
        source.root_pem(),
        source.intermediate_pem(),
        &key_pem,
    )
    .unwrap();
    assert_eq!(imported.root_fingerprint(), source.root_fingerprint());
    assert!(
        !target.path().join(CA_DIR).join("root.key").exists(),
        "the root key stays offline"
    );
    let (reloaded, created) = CertificateAuthority::open_or_create(target.path(), NOW).unwrap();
    assert!(!created);
    let sans = agent_sans();
    let csr_pem = csr(&rcgen::PKCS_ECDSA_P256_SHA256, "agent-1", &[]);
    reloaded
        .issue_agent_certificate(&request(&csr_pem, &sans))
        .unwrap();

    // Refuses to overwrite, and refuses a key that is not the intermediate's.
    assert!(CertificateAuthority::import_intermediate(
        target.path(),
        source.root_pem(),
        source.intermediate_pem(),
        &key_pem
    )
    .is_err());
    let stranger = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let elsewhere = tempfile::tempdir().unwrap();
    let err = CertificateAuthority::import_intermediate(
        elsewhere.path(),
        source.root_pem(),
        source.intermediate_pem(),
        &stranger,
    );
    assert!(matches!(err, Err(CaError::InvalidCertificate(_))));
    assert!(
        !elsewhere.path().join(CA_DIR).exists(),
        "nothing written on failure"
    );

    // A directory with only some files is reported, not silently regenerated.
    std::fs::remove_file(target.path().join(CA_DIR).join("intermediate.key")).unwrap();
    assert!(matches!(
        CertificateAuthority::open_or_create(target.path(), NOW),
        Err(CaError::Incomplete(..))
    ));
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}
