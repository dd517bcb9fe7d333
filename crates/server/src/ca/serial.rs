use rcgen::SerialNumber;

use super::CaError;

/// A random 128-bit serial. The first byte is forced into 0x01..=0x7f so the DER INTEGER is
/// positive and has no leading zero: the hex of these bytes is exactly what X.509 parsers
/// (and CRL lookups) report.
pub(crate) fn random_serial() -> Result<(SerialNumber, String), CaError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| CaError::Random)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    Ok((SerialNumber::from_slice(&bytes), hex::encode(bytes)))
}
