use std::fmt;
use std::path::PathBuf;

/// A position in a policy source file; lines and columns count from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl From<&marked_yaml::Span> for Location {
    fn from(span: &marked_yaml::Span) -> Self {
        span.start()
            .map(|m| Location {
                line: m.line(),
                column: m.column(),
            })
            .unwrap_or_default()
    }
}

/// One problem found in a policy: where it is, which rule it belongs to and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub location: Location,
    pub rule_id: Option<String>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.line > 0 {
            write!(f, "{}:{}: ", self.location.line, self.location.column)?;
        }
        if let Some(id) = &self.rule_id {
            write!(f, "rule {id}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Everything wrong with one policy source. Parsing collects every problem it can find
/// rather than stopping at the first, so an author fixes a file in one pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    pub file: Option<PathBuf>,
    pub diagnostics: Vec<Diagnostic>,
}

impl PolicyError {
    pub fn single(location: Location, rule_id: Option<String>, message: impl Into<String>) -> Self {
        PolicyError {
            file: None,
            diagnostics: vec![Diagnostic {
                location,
                rule_id,
                message: message.into(),
            }],
        }
    }

    pub fn with_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.file = Some(file.into());
        self
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self
            .file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<policy>".to_string());
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            if d.location.line > 0 {
                write!(f, "{file}:{d}")?;
            } else {
                write!(f, "{file}: {d}")?;
            }
        }
        Ok(())
    }
}
