//! The JSON shapes exchanged between `vt-agent` and `vt-server`.
//!
//! Both sides depend on this crate so the contract cannot drift. Field names are a public
//! API: renaming one breaks deployed agents. Request bodies never carry the agent's identity:
//! the server takes it from the client certificate.

mod enroll;
mod error;
mod heartbeat;
pub mod limits;
mod policy;
mod results;
pub mod token;

pub use enroll::{EnrollRequest, EnrollResponse, SignRequest, SignResponse};
pub use error::{ApiError, ValidationError};
pub use heartbeat::{Heartbeat, HeartbeatResponse};
pub use policy::PolicyResponse;
pub use results::{ResultsAck, ResultsSubmission};

/// Parses an RFC 3339 timestamp, the only time format on the wire.
pub fn parse_timestamp(text: &str) -> Result<time::OffsetDateTime, time::error::Parse> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
}

/// Formats a timestamp as RFC 3339 in UTC, the form the server emits.
pub fn format_timestamp(at: time::OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        // Formatting a UTC OffsetDateTime as RFC 3339 only fails for years outside 0..=9999,
        // which no clock or database in this system produces.
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}
