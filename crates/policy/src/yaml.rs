//! Helpers for reading a position-annotated YAML tree while collecting diagnostics.

use std::collections::{BTreeMap, HashSet};

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::Node;

use crate::error::{Diagnostic, Location};

/// Collects diagnostics for one policy and knows which rule is being read, so every
/// message can name it.
pub(crate) struct Reader {
    pub diagnostics: Vec<Diagnostic>,
    pub rule_id: Option<String>,
    pub variables: BTreeMap<String, String>,
    /// Whether `${name}` is substituted; legacy files have no variables, so it is literal.
    pub substitute: bool,
}

impl Reader {
    pub fn new() -> Self {
        Reader {
            diagnostics: Vec::new(),
            rule_id: None,
            variables: BTreeMap::new(),
            substitute: true,
        }
    }

    pub fn error(&mut self, at: &Node, message: impl Into<String>) {
        self.error_at(node_location(at), message);
    }

    pub fn error_at(&mut self, location: Location, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            location,
            rule_id: self.rule_id.clone(),
            message: message.into(),
        });
    }

    /// A scalar as text, with `${variable}` references substituted.
    pub fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        match node {
            Node::Scalar(s) => self.substitute(s),
            _ => {
                self.error(
                    node,
                    format!("{what} must be a single value, not a {}", kind(node)),
                );
                None
            }
        }
    }

    /// A scalar's raw text without variable substitution (ids, names of things).
    pub fn raw_text(&mut self, node: &Node, what: &str) -> Option<String> {
        match node {
            Node::Scalar(s) => Some(s.as_str().to_string()),
            _ => {
                self.error(
                    node,
                    format!("{what} must be a single value, not a {}", kind(node)),
                );
                None
            }
        }
    }

    pub fn non_empty_text(&mut self, node: &Node, what: &str) -> Option<String> {
        let text = self.text(node, what)?;
        if text.trim().is_empty() {
            self.error(node, format!("{what} must not be empty"));
            return None;
        }
        Some(text)
    }

    pub fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        let text = self.text(node, what)?;
        match text.as_str() {
            "true" | "True" | "TRUE" | "yes" => Some(true),
            "false" | "False" | "FALSE" | "no" => Some(false),
            _ => {
                self.error(node, format!("{what} must be true or false, got {text:?}"));
                None
            }
        }
    }

    pub fn int(&mut self, node: &Node, what: &str) -> Option<i64> {
        let text = self.text(node, what)?;
        match text.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(node, format!("{what} must be an integer, got {text:?}"));
                None
            }
        }
    }

    /// A list of scalars; a single scalar is accepted as a one-element list.
    pub fn text_list(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        match node {
            Node::Sequence(seq) => {
                let mut out = Vec::with_capacity(seq.len());
                for item in seq.iter() {
                    out.push(self.text(item, what)?);
                }
                Some(out)
            }
            Node::Scalar(_) => Some(vec![self.text(node, what)?]),
            Node::Mapping(_) => {
                self.error(node, format!("{what} must be a list of values, not a mapping"));
                None
            }
        }
    }

    pub fn mapping<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedMappingNode> {
        match node {
            Node::Mapping(m) => Some(m),
            _ => {
                self.error(node, format!("{what} must be a mapping, not a {}", kind(node)));
                None
            }
        }
    }

    fn substitute(&mut self, scalar: &MarkedScalarNode) -> Option<String> {
        let raw = scalar.as_str();
        if !self.substitute || !raw.contains("${") {
            return Some(raw.to_string());
        }
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                self.error_at(Location::from(scalar.span()), "unterminated ${ in value");
                return None;
            };
            let name = &after[..end];
            match self.variables.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    self.error_at(
                        Location::from(scalar.span()),
                        format!("unknown variable ${{{name}}} (declare it under policy.variables)"),
                    );
                    return None;
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
}

/// Where a node starts. The YAML parser marks a block mapping at the colon of its first
/// key, so a mapping's position is taken from its first key when that comes earlier.
pub(crate) fn node_location(node: &Node) -> Location {
    match node {
        Node::Mapping(m) => mapping_location(m),
        _ => Location::from(node.span()),
    }
}

fn mapping_location(map: &MarkedMappingNode) -> Location {
    let start = Location::from(map.span());
    match map.iter().next().map(|(k, _)| Location::from(k.span())) {
        Some(key)
            if key.line > 0 && (start.line == 0 || (key.line, key.column) < (start.line, start.column)) =>
        {
            key
        }
        _ => start,
    }
}

pub(crate) fn kind(node: &Node) -> &'static str {
    match node {
        Node::Scalar(_) => "single value",
        Node::Mapping(_) => "mapping",
        Node::Sequence(_) => "list",
    }
}

/// Reads a mapping's keys while remembering which were used, so leftovers can be reported
/// as unknown keys.
pub(crate) struct Fields<'n> {
    map: &'n MarkedMappingNode,
    used: HashSet<String>,
}

impl<'n> Fields<'n> {
    pub fn new(map: &'n MarkedMappingNode) -> Self {
        Fields {
            map,
            used: HashSet::new(),
        }
    }

    pub fn get(&mut self, key: &str) -> Option<&'n Node> {
        let node = self.map.get_node(key)?;
        self.used.insert(key.to_string());
        Some(node)
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.get_node(key).is_some()
    }

    pub fn keys(&self) -> impl Iterator<Item = (&'n MarkedScalarNode, &'n Node)> {
        self.map.iter()
    }

    pub fn location(&self) -> Location {
        mapping_location(self.map)
    }

    pub fn require(&mut self, r: &mut Reader, key: &str, context: &str) -> Option<&'n Node> {
        let node = self.get(key);
        if node.is_none() {
            r.error_at(
                self.location(),
                format!("{context} is missing required key `{key}`"),
            );
        }
        node
    }

    /// Reports every key that was not read, listing what is allowed here.
    pub fn finish(self, r: &mut Reader, context: &str, allowed: &[&str]) {
        for (key, _) in self.map.iter() {
            if !self.used.contains(key.as_str()) {
                r.error_at(
                    Location::from(key.span()),
                    format!(
                        "unknown key `{}` in {context} (allowed: {})",
                        key.as_str(),
                        allowed.join(", ")
                    ),
                );
            }
        }
    }
}
