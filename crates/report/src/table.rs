//! Plain text for terminals: one line per rule, details for what needs attention, and a
//! summary line per policy.

use std::fmt;
use std::io::{self, Write};

use vt_policy::{Report, Status};

use crate::status_label;

/// Evidence can be long (file contents, command output); past this many lines the terminal
/// view points to the richer formats instead of flooding the screen.
const MAX_DETAIL_LINES: usize = 12;

/// Width of the widest label ("ERROR"), so that severities line up.
const STATUS_WIDTH: usize = 5;
/// Width of the widest severity ("CRITICAL").
const SEVERITY_WIDTH: usize = 8;
const DETAIL_INDENT: &str = "    ";

pub(crate) fn render(reports: &[Report], out: &mut dyn Write) -> io::Result<()> {
    if reports.is_empty() {
        return writeln!(out, "No reports.");
    }
    for (i, report) in reports.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        policy(out, report)?;
    }
    Ok(())
}

fn policy(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    writeln!(
        out,
        "{} ({}) on {} [{} {} {}]",
        Clean(&report.policy.name),
        Clean(&report.policy.id),
        Clean(&report.host.hostname),
        Clean(&report.host.os),
        Clean(&report.host.os_version),
        Clean(&report.host.arch),
    )?;

    let id_width = report
        .results
        .iter()
        .map(|r| Clean(&r.rule_id).to_string().chars().count())
        .max()
        .unwrap_or(0);

    for r in &report.results {
        // Padding is applied to pre-rendered strings: `{:<w$}` on a Display wrapper
        // would be ignored.
        writeln!(
            out,
            "{:<sw$}  {:<vw$}  {:<iw$}  {}",
            status_label(r.status),
            r.severity.as_str().to_ascii_uppercase(),
            Clean(&r.rule_id).to_string(),
            Clean(&r.title),
            sw = STATUS_WIDTH,
            vw = SEVERITY_WIDTH,
            iw = id_width,
        )?;
        if matches!(r.status, Status::Fail | Status::Error) {
            detail(out, "expected", &r.expected)?;
            detail(out, "observed", &r.observed)?;
            detail(out, "reason", &r.reason)?;
        }
    }

    let s = &report.summary;
    writeln!(
        out,
        "{}: {} rules, {} pass, {} fail, {} error, {} n/a, score {:.1}%",
        Clean(&report.policy.id),
        s.total,
        s.pass,
        s.fail,
        s.error,
        s.not_applicable,
        s.score,
    )
}

/// One labelled detail, continuation lines aligned under the first value line.
fn detail(out: &mut dyn Write, label: &str, value: &str) -> io::Result<()> {
    if value.trim().is_empty() {
        return Ok(());
    }
    let label = format!("{label}:");
    // "observed:" is the longest label; one space after it.
    let width = "observed:".len() + 1;
    let lines: Vec<&str> = value.trim_end().lines().collect();
    for (i, line) in lines.iter().take(MAX_DETAIL_LINES).enumerate() {
        let prefix = if i == 0 { label.as_str() } else { "" };
        writeln!(out, "{DETAIL_INDENT}{prefix:<width$}{}", Clean(line))?;
    }
    if lines.len() > MAX_DETAIL_LINES {
        writeln!(
            out,
            "{DETAIL_INDENT}{:<width$}... {} more lines (see the json or html report)",
            "",
            lines.len() - MAX_DETAIL_LINES
        )?;
    }
    Ok(())
}

/// Makes untrusted text safe to print on a terminal.
///
/// Evidence and titles could contain escape sequences that recolour, retitle or clear the
/// terminal, or bidirectional overrides that make text read differently from what it is; they
/// are shown as visible `\x1b` / `\u{202e}` escapes instead. Line breaks and tabs become
/// spaces so that one rule stays on one line.
struct Clean<'a>(&'a str);

impl fmt::Display for Clean<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\t' | '\n' | '\r' => f.write_str(" ")?,
                c if c.is_control() => {
                    if (c as u32) < 0x100 {
                        write!(f, "\\x{:02x}", c as u32)?
                    } else {
                        write!(f, "\\u{{{:x}}}", c as u32)?
                    }
                }
                '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                    write!(f, "\\u{{{:x}}}", c as u32)?
                }
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use vt_policy::Status;

    use crate::test_support::{hostile_report, report, result, sample_report};
    use crate::{render, Format};

    fn render_table(reports: &[vt_policy::Report]) -> String {
        let mut out = Vec::new();
        render(reports, Format::Table, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn one_line_per_rule_with_details_for_failures() {
        let text = render_table(&[sample_report()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "cis-debian baseline (cis-debian) on web-01 [linux Debian 12 x86_64]"
        );
        assert_eq!(lines[1], "PASS   HIGH      SSH-001  SSH root login disabled");
        assert_eq!(
            lines[2],
            "FAIL   MEDIUM    PW-002   Password max age at most 90 days"
        );
        assert_eq!(lines[3], "    expected: <= 90");
        assert_eq!(lines[4], "    observed: 99999");
        assert_eq!(lines[5], "    reason:   PASS_MAX_DAYS is 99999");
        assert_eq!(lines[6], "ERROR  CRITICAL  AUD-003  auditd is running");
        assert_eq!(lines[7], "    reason:   permission denied");
        assert_eq!(lines[8], "N/A    LOW       WIN-004  Windows-only check");
        assert_eq!(lines[9], "PASS   INFO      INF-005  Kernel version recorded");
        assert_eq!(
            lines[10],
            "cis-debian: 5 rules, 2 pass, 1 fail, 1 error, 1 n/a, score 50.0%"
        );
        assert_eq!(lines.len(), 11);
    }

    #[test]
    fn terminal_control_sequences_are_made_visible() {
        let text = render_table(&[hostile_report()]);
        assert!(!text.contains('\u{1b}'), "raw ESC reached the terminal");
        assert!(!text.contains('\u{1}') && !text.contains('\0') && !text.contains('\u{7}'));
        assert!(text.contains("control\\x01char \\x1b[31mred"), "{text}");
        // Multi-line evidence is split onto aligned continuation lines.
        assert!(
            text.contains("    reason:   line one\n              line two, \"quoted\"\n"),
            "{text}"
        );
    }

    #[test]
    fn long_evidence_is_truncated() {
        let mut r = result("L-1", "long", vt_policy::Severity::Low, Status::Fail);
        r.observed = (1..=30).map(|i| format!("line {i}\n")).collect();
        let text = render_table(&[report("p", "h", vec![r])]);
        assert!(text.contains("line 12\n"));
        assert!(!text.contains("line 13\n"));
        assert!(text.contains("... 18 more lines"), "{text}");
    }

    #[test]
    fn several_policies_each_get_a_summary() {
        let text = render_table(&[sample_report(), hostile_report()]);
        assert!(text.contains("\ncis-debian: 5 rules"));
        assert!(text.contains("\nevil<&>\"': 3 rules, 0 pass, 1 fail, 1 error, 1 n/a"));
    }
}
