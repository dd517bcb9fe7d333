use std::fmt;

/// What a probe saw on the host.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// The thing looked for does not exist (no such file, value, package, line...).
    Missing,
    Scalar(Value),
    /// A multi-valued observation (matching lines, files, group members...). An empty list
    /// is reported by probes as `Missing` only where the probe's documentation says so.
    List(Vec<Value>),
}

/// One observed value. Text that looks like a number compares as a number, so most probes
/// can simply report text; typed variants exist where the type changes comparison rules.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
    /// A Unix permission mode: expectations compared with it are read as octal.
    Mode(u32),
}

impl Value {
    pub fn text(s: impl Into<String>) -> Self {
        Value::Text(s.into())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Mode(m) => write!(f, "{m:04o}"),
        }
    }
}

/// Evidence strings are bounded so a huge file line or command output cannot bloat a
/// report or a submission.
pub const MAX_EVIDENCE_BYTES: usize = 4096;

impl Observation {
    pub fn scalar(v: Value) -> Self {
        Observation::Scalar(v)
    }

    pub fn text(s: impl Into<String>) -> Self {
        Observation::Scalar(Value::Text(s.into()))
    }

    /// A list observation, or `Missing` when nothing was found.
    pub fn list_or_missing(values: Vec<Value>) -> Self {
        if values.is_empty() {
            Observation::Missing
        } else {
            Observation::List(values)
        }
    }

    /// Human-readable evidence, truncated to [`MAX_EVIDENCE_BYTES`].
    pub fn evidence(&self) -> String {
        let full = match self {
            Observation::Missing => "missing".to_string(),
            Observation::Scalar(v) => v.to_string(),
            Observation::List(vs) => {
                let items: Vec<String> = vs.iter().map(|v| format!("{:?}", v.to_string())).collect();
                format!("[{}]", items.join(", "))
            }
        };
        truncate_evidence(full)
    }
}

pub fn truncate_evidence(mut s: String) -> String {
    if s.len() <= MAX_EVIDENCE_BYTES {
        return s;
    }
    let mut cut = MAX_EVIDENCE_BYTES;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let dropped = s.len() - cut;
    s.truncate(cut);
    s.push_str(&format!("… ({dropped} more bytes)"));
    s
}
