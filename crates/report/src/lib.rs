//! Renders VT-Audit [`Report`]s for people and for tools: a terminal table, JSON, a
//! self-contained HTML page, CSV and JUnit XML.
//!
//! Report content is untrusted: rule titles and fix texts come from policy files, evidence
//! comes from the audited host. Each renderer therefore escapes for its own output context
//! (HTML, XML, spreadsheet formulas, terminal control sequences) instead of relying on the
//! data being benign.

use std::fmt;
use std::io::{self, BufWriter, Write};
use std::str::FromStr;

use vt_policy::{Report, RuleResult, Status};

mod csv;
mod html;
mod json;
mod junit;
mod table;
#[cfg(test)]
mod test_support;

/// An output format for [`render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Plain text for terminals (no colours, no control sequences).
    Table,
    /// Pretty-printed JSON: the report object, or an array when there are several.
    Json,
    /// One self-contained HTML page (inline CSS and JS, no external requests).
    Html,
    /// RFC 4180 CSV, one row per rule result.
    Csv,
    /// JUnit XML, one test suite per policy, for CI systems.
    Junit,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Table,
        Format::Json,
        Format::Html,
        Format::Csv,
        Format::Junit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Html => "html",
            Format::Csv => "csv",
            Format::Junit => "junit",
        }
    }

    /// The conventional file extension (without dot), for naming output files.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Table => "txt",
            Format::Json => "json",
            Format::Html => "html",
            Format::Csv => "csv",
            Format::Junit => "xml",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let wanted = s.trim();
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| format!("unknown report format {s:?} (expected table, json, html, csv or junit)"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("writing report: {0}")]
    Io(#[from] io::Error),
    #[error("serializing report as JSON: {0}")]
    Json(serde_json::Error),
}

impl From<serde_json::Error> for RenderError {
    /// serde_json reports failures of the underlying writer as its own error type; they are
    /// I/O failures (broken pipe, full disk) and callers should be able to match them as such.
    fn from(e: serde_json::Error) -> Self {
        if e.is_io() {
            RenderError::Io(e.into())
        } else {
            RenderError::Json(e)
        }
    }
}

/// Renders `reports` (one per policy) in `format` to `out`.
///
/// The output is complete and flushed when this returns `Ok`. An empty slice renders an
/// empty document of the format (e.g. `[]` for JSON, a header-only CSV).
///
/// # Errors
///
/// [`RenderError::Io`] when writing to `out` fails (including a failed final flush);
/// [`RenderError::Json`] only if serialization itself fails, which plain report data cannot
/// cause.
pub fn render(reports: &[Report], format: Format, out: &mut dyn Write) -> Result<(), RenderError> {
    // The renderers issue many small writes; buffering keeps that cheap on unbuffered sinks
    // such as files and a locked stdout.
    let mut w = BufWriter::new(out);
    match format {
        Format::Table => table::render(reports, &mut w)?,
        Format::Json => json::render(reports, &mut w)?,
        Format::Html => html::render(reports, &mut w)?,
        Format::Csv => csv::render(reports, &mut w)?,
        Format::Junit => junit::render(reports, &mut w)?,
    }
    // Flushing explicitly because BufWriter's drop would swallow the error.
    w.flush()?;
    Ok(())
}

/// Upper-case status label shared by the human-facing formats.
pub(crate) fn status_label(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Error => "ERROR",
        Status::NotApplicable => "N/A",
    }
}

/// Per-status counts computed from the results themselves, so that totals always agree with
/// the rows a format actually emits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub pass: u32,
    pub fail: u32,
    pub error: u32,
    pub not_applicable: u32,
}

impl Counts {
    pub fn of<'a>(results: impl IntoIterator<Item = &'a RuleResult>) -> Self {
        let mut c = Counts::default();
        for r in results {
            c.add(r.status);
        }
        c
    }

    pub fn add(&mut self, status: Status) {
        match status {
            Status::Pass => self.pass += 1,
            Status::Fail => self.fail += 1,
            Status::Error => self.error += 1,
            Status::NotApplicable => self.not_applicable += 1,
        }
    }

    pub fn get(&self, status: Status) -> u32 {
        match status {
            Status::Pass => self.pass,
            Status::Fail => self.fail,
            Status::Error => self.error,
            Status::NotApplicable => self.not_applicable,
        }
    }

    pub fn total(&self) -> u32 {
        self.pass + self.fail + self.error + self.not_applicable
    }

    pub fn merge(&mut self, other: Counts) {
        self.pass += other.pass;
        self.fail += other.fail;
        self.error += other.error;
        self.not_applicable += other.not_applicable;
    }
}

/// All statuses in the order the human-facing formats list them.
pub(crate) const STATUSES: [Status; 4] = [Status::Pass, Status::Fail, Status::Error, Status::NotApplicable];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{hostile_report, sample_report};

    #[test]
    fn format_round_trips_through_its_name() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>(), Ok(f));
            assert_eq!(f.to_string(), f.as_str());
        }
        assert_eq!("JUnit".parse::<Format>(), Ok(Format::Junit));
        assert_eq!(" csv ".parse::<Format>(), Ok(Format::Csv));
        let err = "xml".parse::<Format>().unwrap_err();
        assert!(err.contains("junit"), "{err}");
    }

    #[test]
    fn every_format_renders_without_error_and_non_empty() {
        let reports = [sample_report(), hostile_report()];
        for f in Format::ALL {
            for slice in [&reports[..], &reports[..1], &[]] {
                let mut out = Vec::new();
                render(slice, f, &mut out).unwrap();
                assert!(!out.is_empty(), "{f} rendered nothing");
                assert!(String::from_utf8(out).is_ok(), "{f} is not UTF-8");
            }
        }
    }

    struct FailingWriter;
    impl Write for FailingWriter {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
        }
    }

    #[test]
    fn writer_failures_surface_as_io_errors() {
        let reports = [sample_report()];
        for f in Format::ALL {
            match render(&reports, f, &mut FailingWriter) {
                Err(RenderError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::BrokenPipe),
                other => panic!("{f}: expected an I/O error, got {other:?}"),
            }
        }
    }

    #[test]
    fn counts_follow_results() {
        let r = sample_report();
        let c = Counts::of(&r.results);
        assert_eq!(c.total() as usize, r.results.len());
        assert_eq!(c.pass, r.summary.pass);
        assert_eq!(c.fail, r.summary.fail);
        assert_eq!(c.error, r.summary.error);
        assert_eq!(c.not_applicable, r.summary.not_applicable);
    }
}
