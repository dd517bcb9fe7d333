//! CSV (RFC 4180): one row per rule result, for spreadsheets and ad-hoc analysis.

use std::borrow::Cow;
use std::io::{self, Write};

use vt_policy::Report;

const HEADER: [&str; 11] = [
    "policy_id",
    "hostname",
    "rule_id",
    "title",
    "severity",
    "status",
    "expected",
    "observed",
    "reason",
    "fix",
    "duration_ms",
];

pub(crate) fn render(reports: &[Report], out: &mut dyn Write) -> io::Result<()> {
    write_row(out, &HEADER)?;
    for report in reports {
        for r in &report.results {
            let duration = r.duration_ms.to_string();
            write_row(
                out,
                &[
                    &report.policy.id,
                    &report.host.hostname,
                    &r.rule_id,
                    &r.title,
                    r.severity.as_str(),
                    r.status.as_str(),
                    &r.expected,
                    &r.observed,
                    &r.reason,
                    &r.fix,
                    &duration,
                ],
            )?;
        }
    }
    Ok(())
}

fn write_row(out: &mut dyn Write, fields: &[&str]) -> io::Result<()> {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write_field(out, field)?;
    }
    // RFC 4180 mandates CRLF; Excel and most parsers also accept it everywhere.
    out.write_all(b"\r\n")
}

fn write_field(out: &mut dyn Write, field: &str) -> io::Result<()> {
    let field = guard_formula(field);
    if field.contains([',', '"', '\r', '\n']) {
        out.write_all(b"\"")?;
        out.write_all(field.replace('"', "\"\"").as_bytes())?;
        out.write_all(b"\"")
    } else {
        out.write_all(field.as_bytes())
    }
}

/// Defends against CSV (formula) injection.
///
/// Spreadsheet programs (Excel, LibreOffice, Google Sheets) treat a cell that starts with
/// `=`, `+`, `-` or `@` as a formula and evaluate it when the file is opened; a leading tab
/// or carriage return can smuggle such a prefix past naive checks. Evidence in a report
/// comes from the audited host and titles from policy files, so a hostile value such as
/// `=HYPERLINK(...)` or a DDE payload would run in the auditor's spreadsheet. Prefixing a
/// single quote makes the spreadsheet show the text literally. The cost is that a genuine
/// value like `-1` reads `'-1` in a plain-text consumer, which is the accepted trade-off
/// (OWASP "CSV Injection").
fn guard_formula(field: &str) -> Cow<'_, str> {
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{field}"))
    } else {
        Cow::Borrowed(field)
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{hostile_report, sample_report};
    use crate::{render, Format};

    fn render_csv(reports: &[vt_policy::Report]) -> String {
        let mut out = Vec::new();
        render(reports, Format::Csv, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn parse(text: &str) -> Vec<Vec<String>> {
        ::csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn header_and_rows_parse_back() {
        let reports = [sample_report(), hostile_report()];
        let text = render_csv(&reports);
        assert!(text.starts_with(
            "policy_id,hostname,rule_id,title,severity,status,expected,observed,reason,fix,duration_ms\r\n"
        ));
        assert!(text.ends_with("\r\n"));

        let rows = parse(&text);
        assert_eq!(rows.len(), 1 + 5 + 3);
        assert!(rows.iter().all(|r| r.len() == 11));

        // Quoting of comma / quote / CR-LF content must survive a real parser.
        let fail = &rows[2];
        assert_eq!(
            fail,
            &[
                "cis-debian",
                "web-01",
                "PW-002",
                "Password max age at most 90 days",
                "medium",
                "fail",
                "<= 90",
                "99999",
                "PASS_MAX_DAYS is 99999",
                "Set PASS_MAX_DAYS 90 in /etc/login.defs",
                "12",
            ]
        );
        let passing = &rows[1];
        assert_eq!(passing[6], "equals \"no\"");
        let ctl = &rows[7];
        assert_eq!(ctl[0], "evil<&>\"'");
        assert_eq!(ctl[1], "host'\"<x>");
        assert_eq!(ctl[8], "line one\nline two, \"quoted\"");
        assert_eq!(ctl[10], "42");
    }

    #[test]
    fn quoting_is_rfc4180() {
        let text = render_csv(&[hostile_report()]);
        // Doubled quotes inside a quoted field, and the embedded line break kept verbatim.
        assert!(
            text.contains(",\"line one\nline two, \"\"quoted\"\"\","),
            "{text}"
        );
        assert!(text.contains("\r\n\"evil<&>\"\"'\","), "{text}");
        // Fields without special characters are not quoted.
        assert!(text.contains(",X-1,"), "{text}");
    }

    #[test]
    fn formula_prefixes_are_neutralised() {
        let rows = parse(&render_csv(&[hostile_report()]));
        let xss = &rows[1];
        assert_eq!(xss[9], "'=HYPERLINK(\"http://evil.example\",\"click\")");
        let formula = &rows[3];
        assert_eq!(formula[2], "'-X-3");
        assert_eq!(formula[3], "'+1 plus");
        assert_eq!(formula[6], "'-1");
        assert_eq!(formula[7], "'@SUM(A1:A2)");
        assert_eq!(formula[8], "'\tleading tab");
        // Every cell of every row: nothing may start with a formula trigger.
        for cell in rows.iter().flatten() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "unguarded cell {cell:?}"
            );
        }
    }

    #[test]
    fn no_reports_is_header_only() {
        let rows = parse(&render_csv(&[]));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][0], "policy_id");
    }
}
