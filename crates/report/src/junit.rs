//! JUnit XML, so that CI systems (GitLab, Jenkins, GitHub test reporters) can show an audit
//! as a test run: one suite per policy, one test case per rule.

use std::fmt;
use std::io::{self, Write};

use vt_policy::{Report, RuleResult, Status};

use crate::Counts;

pub(crate) fn render(reports: &[Report], out: &mut dyn Write) -> io::Result<()> {
    let mut total = Counts::default();
    let mut total_ms: u64 = 0;
    for report in reports {
        total.merge(Counts::of(&report.results));
        total_ms = total_ms.saturating_add(report.duration_ms);
    }

    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="vt-audit" tests="{}" failures="{}" errors="{}" skipped="{}" time="{}">"#,
        total.total(),
        total.fail,
        total.error,
        total.not_applicable,
        Seconds(total_ms),
    )?;
    for report in reports {
        suite(out, report)?;
    }
    writeln!(out, "</testsuites>")
}

fn suite(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    let c = Counts::of(&report.results);
    writeln!(
        out,
        r#"  <testsuite name="{}" hostname="{}" tests="{}" failures="{}" errors="{}" skipped="{}" time="{}" timestamp="{}">"#,
        Attr(&report.policy.id),
        Attr(&report.host.hostname),
        c.total(),
        c.fail,
        c.error,
        c.not_applicable,
        Seconds(report.duration_ms),
        Attr(&report.started_at),
    )?;

    // Properties carry what the suite attributes cannot, so a CI artefact alone identifies
    // exactly which policy revision ran on which system.
    writeln!(out, "    <properties>")?;
    let props = [
        ("policy_name", &report.policy.name),
        ("policy_hash", &report.policy.hash),
        ("os", &report.host.os),
        ("os_version", &report.host.os_version),
        ("arch", &report.host.arch),
        ("score", &format!("{:.1}", report.summary.score)),
    ];
    for (name, value) in props {
        writeln!(
            out,
            r#"      <property name="{}" value="{}"/>"#,
            name,
            Attr(value)
        )?;
    }
    writeln!(out, "    </properties>")?;

    for r in &report.results {
        case(out, &report.policy.id, r)?;
    }
    writeln!(out, "  </testsuite>")
}

fn case(out: &mut dyn Write, policy_id: &str, r: &RuleResult) -> io::Result<()> {
    write!(
        out,
        r#"    <testcase classname="{}.{}" name="{}: {}" time="{}""#,
        Attr(policy_id),
        r.severity.as_str(),
        Attr(&r.rule_id),
        Attr(&r.title),
        Seconds(r.duration_ms),
    )?;
    let (element, default_message) = match r.status {
        Status::Pass => return writeln!(out, "/>"),
        Status::NotApplicable => {
            writeln!(out, ">")?;
            if r.reason.is_empty() {
                writeln!(out, "      <skipped/>")?;
            } else {
                writeln!(out, r#"      <skipped message="{}"/>"#, Attr(&r.reason))?;
            }
            return writeln!(out, "    </testcase>");
        }
        Status::Fail => ("failure", "rule failed"),
        Status::Error => ("error", "rule could not be evaluated"),
    };
    let message = if r.reason.is_empty() {
        default_message
    } else {
        &r.reason
    };
    writeln!(out, ">")?;
    write!(
        out,
        r#"      <{element} message="{}" type="{}">"#,
        Attr(message),
        r.status.as_str()
    )?;
    for (label, value) in [
        ("expected", &r.expected),
        ("observed", &r.observed),
        ("reason", &r.reason),
        ("fix", &r.fix),
    ] {
        // An explicit marker, because "no evidence" is itself evidence.
        let value = if value.is_empty() { "(empty)" } else { value };
        write!(out, "\n{label}: {}", Text(value))?;
    }
    writeln!(out, "\n</{element}>")?;
    writeln!(out, "    </testcase>")
}

/// Milliseconds as JUnit's decimal seconds, formatted exactly (no float rounding).
struct Seconds(u64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// Escaped for a double-quoted attribute value.
struct Attr<'a>(&'a str);
/// Escaped for element content.
struct Text<'a>(&'a str);

impl fmt::Display for Attr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escape(f, self.0, true)
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escape(f, self.0, false)
    }
}

fn escape(f: &mut fmt::Formatter<'_>, s: &str, attribute: bool) -> fmt::Result {
    for c in s.chars() {
        match c {
            '&' => f.write_str("&amp;")?,
            '<' => f.write_str("&lt;")?,
            // Escaping `>` everywhere also defuses `]]>`, which is illegal in content.
            '>' => f.write_str("&gt;")?,
            '"' => f.write_str("&quot;")?,
            '\'' => f.write_str("&apos;")?,
            // Parsers normalise raw whitespace in attributes to spaces and raw CR to LF;
            // character references survive, so multi-line evidence keeps its shape.
            '\t' if attribute => f.write_str("&#9;")?,
            '\n' if attribute => f.write_str("&#10;")?,
            '\r' => f.write_str("&#13;")?,
            c if is_xml_char(c) => fmt::Write::write_char(f, c)?,
            // XML 1.0 cannot carry these at all, not even as references; U+FFFD keeps a
            // visible trace that something was there.
            _ => f.write_str("\u{FFFD}")?,
        }
    }
    Ok(())
}

/// The `Char` production of XML 1.0 (surrogates cannot occur in a Rust `char`).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use roxmltree::{Document, Node};

    use crate::test_support::{hostile_report, sample_report};
    use crate::{render, Format};

    fn render_junit(reports: &[vt_policy::Report]) -> String {
        let mut out = Vec::new();
        render(reports, Format::Junit, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn attr<'a>(n: Node<'a, '_>, name: &str) -> &'a str {
        n.attribute(name)
            .unwrap_or_else(|| panic!("<{}> lacks {name}", n.tag_name().name()))
    }

    fn children<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Vec<Node<'a, 'i>> {
        n.children()
            .filter(|c| c.is_element() && c.tag_name().name() == name)
            .collect()
    }

    #[test]
    fn document_is_valid_xml_with_consistent_counts() {
        let text = render_junit(&[sample_report(), hostile_report()]);
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
        let doc = Document::parse(&text).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(attr(root, "name"), "vt-audit");
        assert_eq!(attr(root, "tests"), "8");
        assert_eq!(attr(root, "failures"), "2");
        assert_eq!(attr(root, "errors"), "2");
        assert_eq!(attr(root, "skipped"), "2");
        assert_eq!(attr(root, "time"), "2.468");

        let suites = children(root, "testsuite");
        assert_eq!(suites.len(), 2);
        let s = suites[0];
        assert_eq!(attr(s, "name"), "cis-debian");
        assert_eq!(attr(s, "hostname"), "web-01");
        assert_eq!(attr(s, "tests"), "5");
        assert_eq!(attr(s, "failures"), "1");
        assert_eq!(attr(s, "errors"), "1");
        assert_eq!(attr(s, "skipped"), "1");
        assert_eq!(attr(s, "time"), "1.234");

        let cases = children(s, "testcase");
        assert_eq!(cases.len(), 5);
        assert_eq!(attr(cases[0], "classname"), "cis-debian.high");
        assert_eq!(attr(cases[0], "name"), "SSH-001: SSH root login disabled");
        assert_eq!(attr(cases[0], "time"), "0.003");
        assert_eq!(cases[0].children().filter(|c| c.is_element()).count(), 0);

        let failure = children(cases[1], "failure");
        assert_eq!(failure.len(), 1);
        assert_eq!(attr(failure[0], "message"), "PASS_MAX_DAYS is 99999");
        let body = failure[0].text().unwrap();
        assert!(body.contains("expected: <= 90"), "{body}");
        assert!(body.contains("observed: 99999"), "{body}");
        assert!(body.contains("fix: Set PASS_MAX_DAYS 90"), "{body}");

        let error = children(cases[2], "error");
        assert_eq!(error.len(), 1);
        assert_eq!(attr(error[0], "message"), "permission denied");
        assert_eq!(attr(cases[2], "time"), "1.500");

        assert_eq!(children(cases[3], "skipped").len(), 1);
        assert!(children(cases[3], "failure").is_empty());

        let props = children(children(s, "properties")[0], "property");
        let hash = props.iter().find(|p| attr(**p, "name") == "policy_hash").unwrap();
        assert_eq!(attr(*hash, "value"), sample_report().policy.hash);
    }

    #[test]
    fn hostile_content_round_trips_through_a_real_parser() {
        let text = render_junit(&[hostile_report()]);
        let doc = Document::parse(&text).unwrap();
        let suite = children(doc.root_element(), "testsuite")[0];
        assert_eq!(attr(suite, "name"), "evil<&>\"'");
        assert_eq!(attr(suite, "hostname"), "host'\"<x>");
        let cases = children(suite, "testcase");
        assert_eq!(attr(cases[0], "name"), "X-1: <script>alert(1)</script>");
        let body = children(cases[0], "failure")[0].text().unwrap();
        assert!(body.contains("observed: \"><img src=x onerror=alert(1)>"));
        assert!(body.contains("expected: a & b"));

        // The control characters are gone, replaced by U+FFFD.
        assert_eq!(attr(cases[1], "name"), "X-2: control\u{FFFD}char \u{FFFD}[31mred");
        let error = children(cases[1], "error")[0];
        // Newlines in an attribute survive thanks to character references.
        assert_eq!(attr(error, "message"), "line one\nline two, \"quoted\"");
        let body = error.text().unwrap();
        assert!(
            body.contains("observed: cdata ]]> end\u{FFFD}\u{FFFD}\u{FFFD}"),
            "{body:?}"
        );
        assert!(!text.contains("]]>"), "raw ]]> in output");
        assert!(!text.contains('\u{1}') && !text.contains('\u{1b}') && !text.contains('\0'));

        let skipped = children(cases[2], "skipped")[0];
        assert_eq!(attr(skipped, "message"), "\tleading tab");
        assert_eq!(attr(cases[2], "classname"), "evil<&>\"'.info");
    }

    #[test]
    fn no_reports_is_an_empty_but_valid_run() {
        let text = render_junit(&[]);
        let doc = Document::parse(&text).unwrap();
        let root = doc.root_element();
        assert_eq!(attr(root, "tests"), "0");
        assert_eq!(attr(root, "time"), "0.000");
        assert!(children(root, "testsuite").is_empty());
    }
}
