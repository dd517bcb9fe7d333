//! Behind a reverse proxy (nginx terminating mTLS), the client certificate arrives in the
//! `X-SSL-Client-Cert` header (`$ssl_client_escaped_cert`: URL-encoded PEM). It is taken
//! ONLY from peers inside a `--trusted-proxy` range; from anyone else the header is
//! ignored, as if absent. The certificate is verified again here against our trust
//! anchors: the proxy already did, but a misconfigured proxy must not be able to mint
//! identities.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use rustls::server::danger::ClientCertVerifier;

use super::tls::{verify_forwarded, PeerCertificate};

pub const CLIENT_CERT_HEADER: &str = "x-ssl-client-cert";

pub struct ProxyTrust {
    ranges: Vec<IpNet>,
    verifier: Arc<dyn ClientCertVerifier>,
    /// Intermediates a proxy's leaf-only header may need to chain to a root.
    intermediates: Vec<Vec<u8>>,
}

impl ProxyTrust {
    pub fn new(
        ranges: Vec<IpNet>,
        verifier: Arc<dyn ClientCertVerifier>,
        intermediates: Vec<Vec<u8>>,
    ) -> Self {
        Self {
            ranges,
            verifier,
            intermediates,
        }
    }

    pub fn is_trusted(&self, peer: IpAddr) -> bool {
        // An IPv4 peer on a dual-stack socket shows up as ::ffff:a.b.c.d.
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        self.ranges.iter().any(|range| range.contains(&peer))
    }

    /// The forwarded certificate if `peer` is trusted and the header holds a certificate
    /// that verifies; `Ok(None)` when the header does not apply.
    pub fn forwarded_certificate(
        &self,
        peer: IpAddr,
        header: Option<&[u8]>,
    ) -> Result<Option<PeerCertificate>, String> {
        let Some(header) = header else {
            return Ok(None);
        };
        if !self.is_trusted(peer) {
            tracing::debug!(%peer, "ignoring client certificate header from an untrusted peer");
            return Ok(None);
        }
        let pem = percent_decode(header).ok_or("client certificate header is not URL-encoded PEM")?;
        let (_, parsed) = x509_parser::pem::parse_x509_pem(&pem)
            .map_err(|_| "client certificate header does not hold a PEM certificate".to_string())?;
        verify_forwarded(self.verifier.as_ref(), &parsed.contents, &self.intermediates).map(Some)
    }
}

/// Decodes `%XX` escapes (nginx's `$ssl_client_escaped_cert`). `+` is left alone: nginx
/// escapes a literal `+` and never encodes spaces as `+`, and base64 needs `+`.
pub fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let hex = input.get(i + 1..i + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(text, 16).ok()?);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_nginx_escaped_pem() {
        let encoded = b"-----BEGIN%20CERTIFICATE-----%0AMIIB+x/y%3D%3D%0A-----END%20CERTIFICATE-----%0A";
        let decoded = percent_decode(encoded).unwrap();
        assert_eq!(
            decoded,
            b"-----BEGIN CERTIFICATE-----\nMIIB+x/y==\n-----END CERTIFICATE-----\n"
        );
        assert!(percent_decode(b"%4").is_none());
        assert!(percent_decode(b"%zz").is_none());
    }

    #[test]
    fn trust_is_by_cidr_including_mapped_ipv4() {
        let ranges: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        let contains = |ip: &str| {
            let ip: IpAddr = ip.parse().unwrap();
            let ip = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
                v4 => v4,
            };
            ranges.iter().any(|r| r.contains(&ip))
        };
        assert!(contains("127.0.0.1"));
        assert!(contains("::ffff:10.1.2.3"));
        assert!(!contains("127.0.0.2"));
        assert!(!contains("192.168.1.1"));
    }
}
