//! JSON: the serde form of [`Report`], whose field names are a public contract shared with
//! the server, so nothing here renames or reshapes fields.

use std::io::Write;

use vt_policy::Report;

use crate::RenderError;

pub(crate) fn render(reports: &[Report], out: &mut dyn Write) -> Result<(), RenderError> {
    // A single policy is by far the common case, and consumers expect the bare object
    // there; only multi-policy runs pay the cost of an enclosing array.
    match reports {
        [one] => serde_json::to_writer_pretty(&mut *out, one)?,
        many => serde_json::to_writer_pretty(&mut *out, many)?,
    }
    out.write_all(b"\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::test_support::{hostile_report, sample_report};
    use crate::{render, Format};

    fn to_json(reports: &[vt_policy::Report]) -> (String, Value) {
        let mut out = Vec::new();
        render(reports, Format::Json, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let value = serde_json::from_str(&text).unwrap();
        (text, value)
    }

    fn keys(v: &Value) -> Vec<&str> {
        let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort_unstable();
        k
    }

    #[test]
    fn single_report_is_the_bare_object_with_contract_field_names() {
        let report = sample_report();
        let (text, v) = to_json(std::slice::from_ref(&report));
        assert!(text.ends_with("}\n"), "trailing newline missing");
        assert!(text.contains("\n  \"host\": {"), "not pretty-printed:\n{text}");

        assert_eq!(
            keys(&v),
            [
                "duration_ms",
                "host",
                "policy",
                "results",
                "started_at",
                "summary"
            ]
        );
        assert_eq!(keys(&v["host"]), ["arch", "hostname", "os", "os_version"]);
        assert_eq!(keys(&v["policy"]), ["hash", "id", "name"]);
        assert_eq!(
            keys(&v["summary"]),
            ["error", "fail", "not_applicable", "pass", "score", "total"]
        );
        let results = v["results"].as_array().unwrap();
        assert_eq!(results.len(), report.results.len());
        assert_eq!(
            keys(&results[0]),
            [
                "duration_ms",
                "expected",
                "fix",
                "observed",
                "reason",
                "rule_id",
                "severity",
                "status",
                "title"
            ]
        );

        assert_eq!(v["host"]["hostname"], "web-01");
        assert_eq!(v["policy"]["id"], "cis-debian");
        assert_eq!(v["summary"]["fail"], 1);
        assert_eq!(v["results"][1]["status"], "fail");
        assert_eq!(v["results"][1]["severity"], "medium");
        assert_eq!(v["results"][3]["status"], "not_applicable");
        assert_eq!(v["results"][1]["expected"], "<= 90");

        let back: vt_policy::Report = serde_json::from_value(v).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn several_reports_form_an_array_in_order() {
        let reports = [sample_report(), hostile_report()];
        let (text, v) = to_json(&reports);
        assert!(text.ends_with("]\n"));
        let arr = v.as_array().unwrap();
        assert_eq!(arr.len(), 2);
        assert_eq!(arr[0]["policy"]["id"], "cis-debian");
        assert_eq!(arr[1]["policy"]["id"], "evil<&>\"'");
        let back: Vec<vt_policy::Report> = serde_json::from_value(v).unwrap();
        assert_eq!(back, reports);
    }

    #[test]
    fn no_reports_is_an_empty_array() {
        let (text, v) = to_json(&[]);
        assert_eq!(text, "[]\n");
        assert_eq!(v, Value::Array(vec![]));
    }
}
