//! Expectations: what an observation must look like for a check to hold.

use std::cmp::Ordering;

use marked_yaml::Node;

use crate::observation::{Observation, Value};
use crate::probe::{one_line, Pattern};
use crate::version;
use crate::yaml::{Fields, Reader};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
}

impl Cmp {
    fn holds(self, ord: Ordering) -> bool {
        match self {
            Cmp::Gt => ord == Ordering::Greater,
            Cmp::Gte => ord != Ordering::Less,
            Cmp::Lt => ord == Ordering::Less,
            Cmp::Lte => ord != Ordering::Greater,
            Cmp::Eq => ord == Ordering::Equal,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Gte => ">=",
            Cmp::Lt => "<",
            Cmp::Lte => "<=",
            Cmp::Eq => "=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Equals(String),
    NotEquals(String),
    Contains(String),
    NotContains(String),
    Matches(Pattern),
    NotMatches(Pattern),
    In(Vec<String>),
    NotIn(Vec<String>),
    /// Numeric comparison; the literal is kept as written so modes can be read as octal.
    Compare(Cmp, String),
    Version(Cmp, String),
    ModeAtMost(u32),
    Exists(bool),
    Every(Box<Expect>),
    Any(Box<Expect>),
    None(Box<Expect>),
    Count(Box<Expect>),
}

/// A conjunction of operators.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub ops: Vec<Op>,
    pub ignore_case: bool,
    /// Original VT-Audit semantics: text-only comparisons on trimmed values, and a fixed
    /// word standing for a missing observation (`NotFound`, `NotRunning`).
    pub legacy: Option<LegacyMode>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LegacyMode {
    pub missing_text: &'static str,
    pub collapse: LegacyCollapse,
}

/// How the original collectors turned what they saw into one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyCollapse {
    /// Services: `Running` if any matching service runs, else `Stopped`.
    ServiceState,
    /// Processes: `Running` when any matched.
    Running,
    /// Multi-valued data joined with `;` (registry REG_MULTI_SZ).
    Join,
}

impl LegacyMode {
    fn collapse(&self, obs: &Observation) -> Observation {
        let items: Vec<String> = match obs {
            Observation::Missing => return Observation::text(self.missing_text),
            Observation::Scalar(v) => vec![v.to_string()],
            Observation::List(vs) => vs.iter().map(Value::to_string).collect(),
        };
        Observation::text(match self.collapse {
            LegacyCollapse::ServiceState => {
                if items.iter().any(|s| s.eq_ignore_ascii_case("running")) {
                    "Running".to_string()
                } else {
                    "Stopped".to_string()
                }
            }
            LegacyCollapse::Running => "Running".to_string(),
            LegacyCollapse::Join => items.join(";"),
        })
    }
}

/// The verdict of an expectation on an observation.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    Holds,
    /// Does not hold; the reason says why in words.
    Fails(String),
    /// The expectation cannot be applied to this observation (e.g. a scalar operator on a
    /// list); reported as an `error` result, never a pass.
    Invalid(String),
}

const OPERATORS: &[&str] = &[
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "matches",
    "not_matches",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "version_eq",
    "version_gt",
    "version_gte",
    "version_lt",
    "version_lte",
    "mode_at_most",
    "exists",
    "every",
    "any",
    "none",
    "count",
    "ignore_case",
];

pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Reads a permission mode written in octal ("0644", "644", "0o644").
pub fn parse_mode(s: &str) -> Option<u32> {
    let t = s.trim();
    let t = t.strip_prefix("0o").unwrap_or(t);
    if t.is_empty() || t.len() > 6 {
        return None;
    }
    u32::from_str_radix(t, 8).ok().filter(|m| *m <= 0o7777)
}

pub(crate) fn read_expect(
    r: &mut Reader,
    node: &Node,
    inherited_ignore_case: bool,
    depth: usize,
) -> Option<Expect> {
    if depth > crate::parse::MAX_CHECK_DEPTH {
        r.error(
            node,
            format!(
                "quantifiers nested deeper than {} levels",
                crate::parse::MAX_CHECK_DEPTH
            ),
        );
        return None;
    }
    let map = r.mapping(node, "expect")?;
    let mut fields = Fields::new(map);
    if map.is_empty() {
        r.error(node, "expect needs at least one operator");
        return None;
    }
    let ignore_case = match fields.get("ignore_case") {
        Some(n) => r.bool(n, "ignore_case")?,
        None => inherited_ignore_case,
    };
    let mut ops = Vec::new();
    let mut ok = true;
    for (key, value) in fields.keys() {
        let name = key.as_str();
        if name == "ignore_case" {
            continue;
        }
        if !OPERATORS.contains(&name) {
            continue; // reported by finish() below
        }
        match read_op(r, name, value, ignore_case, depth) {
            Some(op) => ops.push(op),
            None => ok = false,
        }
    }
    for name in OPERATORS {
        fields.get(name);
    }
    let before = r.diagnostics.len();
    fields.finish(r, "expect", OPERATORS);
    if !ok || r.diagnostics.len() != before {
        return None;
    }
    if ops.is_empty() {
        r.error(node, "expect needs at least one operator besides ignore_case");
        return None;
    }
    Some(Expect {
        ops,
        ignore_case,
        legacy: None,
    })
}

fn read_op(r: &mut Reader, name: &str, node: &Node, ignore_case: bool, depth: usize) -> Option<Op> {
    let pattern = |r: &mut Reader, node: &Node| -> Option<Pattern> {
        let source = r.text(node, name)?;
        match Pattern::new(&source, ignore_case) {
            Ok(p) => Some(p),
            Err(e) => {
                r.error(
                    node,
                    format!("invalid regex in {name}: {}", one_line(&e.to_string())),
                );
                None
            }
        }
    };
    let number = |r: &mut Reader, node: &Node| -> Option<String> {
        let text = r.text(node, name)?;
        if parse_number(&text).is_none() {
            r.error(node, format!("{name} needs a number, got {text:?}"));
            return None;
        }
        Some(text.trim().to_string())
    };
    let nested = |r: &mut Reader, node: &Node| read_expect(r, node, ignore_case, depth + 1).map(Box::new);
    Some(match name {
        "equals" => Op::Equals(r.text(node, name)?),
        "not_equals" => Op::NotEquals(r.text(node, name)?),
        "contains" => Op::Contains(r.text(node, name)?),
        "not_contains" => Op::NotContains(r.text(node, name)?),
        "matches" => Op::Matches(pattern(r, node)?),
        "not_matches" => Op::NotMatches(pattern(r, node)?),
        "in" | "not_in" => {
            let Node::Sequence(_) = node else {
                r.error(node, format!("{name} needs a list, e.g. {name}: [a, b]"));
                return None;
            };
            let items = r.text_list(node, name)?;
            if name == "in" {
                Op::In(items)
            } else {
                Op::NotIn(items)
            }
        }
        "gt" => Op::Compare(Cmp::Gt, number(r, node)?),
        "gte" => Op::Compare(Cmp::Gte, number(r, node)?),
        "lt" => Op::Compare(Cmp::Lt, number(r, node)?),
        "lte" => Op::Compare(Cmp::Lte, number(r, node)?),
        "version_eq" => Op::Version(Cmp::Eq, r.non_empty_text(node, name)?),
        "version_gt" => Op::Version(Cmp::Gt, r.non_empty_text(node, name)?),
        "version_gte" => Op::Version(Cmp::Gte, r.non_empty_text(node, name)?),
        "version_lt" => Op::Version(Cmp::Lt, r.non_empty_text(node, name)?),
        "version_lte" => Op::Version(Cmp::Lte, r.non_empty_text(node, name)?),
        "mode_at_most" => {
            let text = r.text(node, name)?;
            match parse_mode(&text) {
                Some(m) => Op::ModeAtMost(m),
                None => {
                    r.error(
                        node,
                        format!("mode_at_most needs an octal mode such as \"0644\", got {text:?}"),
                    );
                    return None;
                }
            }
        }
        "exists" => Op::Exists(r.bool(node, name)?),
        "every" => Op::Every(nested(r, node)?),
        "any" => Op::Any(nested(r, node)?),
        "none" => Op::None(nested(r, node)?),
        "count" => Op::Count(nested(r, node)?),
        _ => return None,
    })
}

impl Expect {
    /// A one-operator expectation; handy for probes' own defaults and for tests.
    pub fn single(op: Op) -> Self {
        Expect {
            ops: vec![op],
            ignore_case: false,
            legacy: None,
        }
    }

    pub fn describe(&self) -> String {
        let parts: Vec<String> = self.ops.iter().map(|op| self.describe_op(op)).collect();
        let mut s = parts.join(" and ");
        if self.ignore_case && self.legacy.is_none() {
            s.push_str(" (ignoring case)");
        }
        s
    }

    fn describe_op(&self, op: &Op) -> String {
        match op {
            Op::Equals(v) => format!("equals {v:?}"),
            Op::NotEquals(v) => format!("not equals {v:?}"),
            Op::Contains(v) => format!("contains {v:?}"),
            Op::NotContains(v) => format!("does not contain {v:?}"),
            Op::Matches(p) => format!("matches /{}/", p.source),
            Op::NotMatches(p) => format!("does not match /{}/", p.source),
            Op::In(vs) => format!("one of {vs:?}"),
            Op::NotIn(vs) => format!("none of {vs:?}"),
            Op::Compare(c, v) => format!("{} {v}", c.symbol()),
            Op::Version(c, v) => format!("version {} {v}", c.symbol()),
            Op::ModeAtMost(m) => format!("mode at most {m:04o}"),
            Op::Exists(true) => "exists".to_string(),
            Op::Exists(false) => "does not exist".to_string(),
            Op::Every(e) => format!("every item {}", e.describe()),
            Op::Any(e) => format!("at least one item {}", e.describe()),
            Op::None(e) => format!("no item {}", e.describe()),
            Op::Count(e) => format!("count {}", e.describe()),
        }
    }

    /// Judges an observation. Every operator must hold.
    pub fn judge(&self, obs: &Observation) -> Judgement {
        let legacy_obs;
        let obs = match &self.legacy {
            Some(mode) => {
                legacy_obs = mode.collapse(obs);
                &legacy_obs
            }
            None => obs,
        };
        for op in &self.ops {
            match self.judge_op(op, obs) {
                Judgement::Holds => {}
                other => return other,
            }
        }
        Judgement::Holds
    }

    fn judge_op(&self, op: &Op, obs: &Observation) -> Judgement {
        let fails = |what: &str| Judgement::Fails(format!("expected {what}, observed {}", obs.evidence()));
        let verdict = |holds: bool| {
            if holds {
                Judgement::Holds
            } else {
                fails(&self.describe_op(op))
            }
        };
        match (op, obs) {
            (Op::Exists(want), _) => verdict(!matches!(obs, Observation::Missing) == *want),
            (Op::Every(e), _) => quantify(obs, |items| {
                let bad = items
                    .iter()
                    .find_map(|v| match e.judge(&Observation::Scalar(v.clone())) {
                        Judgement::Holds => None,
                        other => Some((v.clone(), other)),
                    });
                match bad {
                    None => Judgement::Holds,
                    Some((_, Judgement::Invalid(m))) => Judgement::Invalid(m),
                    Some((v, _)) => Judgement::Fails(format!(
                        "item {:?} does not satisfy: {}",
                        v.to_string(),
                        e.describe()
                    )),
                }
            }),
            (Op::Any(e), _) => quantify(obs, |items| {
                let mut invalid = None;
                for v in items {
                    match e.judge(&Observation::Scalar(v.clone())) {
                        Judgement::Holds => return Judgement::Holds,
                        Judgement::Invalid(m) => invalid = Some(m),
                        Judgement::Fails(_) => {}
                    }
                }
                invalid
                    .map(Judgement::Invalid)
                    .unwrap_or_else(|| fails(&self.describe_op(op)))
            }),
            (Op::None(e), _) => quantify(obs, |items| {
                for v in items {
                    match e.judge(&Observation::Scalar(v.clone())) {
                        Judgement::Holds => {
                            return Judgement::Fails(format!(
                                "item {:?} satisfies: {}",
                                v.to_string(),
                                e.describe()
                            ))
                        }
                        Judgement::Invalid(m) => return Judgement::Invalid(m),
                        Judgement::Fails(_) => {}
                    }
                }
                Judgement::Holds
            }),
            (Op::Count(e), _) => {
                let n = match obs {
                    Observation::Missing => 0,
                    Observation::Scalar(_) => 1,
                    Observation::List(items) => items.len(),
                };
                match e.judge(&Observation::Scalar(Value::Int(n as i64))) {
                    Judgement::Holds => Judgement::Holds,
                    Judgement::Invalid(m) => Judgement::Invalid(m),
                    Judgement::Fails(_) => Judgement::Fails(format!(
                        "expected count {}, found {n} item(s): {}",
                        e.describe(),
                        obs.evidence()
                    )),
                }
            }
            (_, Observation::Missing) => verdict(matches!(
                op,
                Op::NotEquals(_) | Op::NotIn(_) | Op::NotContains(_) | Op::NotMatches(_)
            )),
            (Op::Contains(s), Observation::List(items)) => verdict(items.iter().any(|v| self.text_eq(v, s))),
            (Op::NotContains(s), Observation::List(items)) => {
                verdict(!items.iter().any(|v| self.text_eq(v, s)))
            }
            (_, Observation::List(items)) => Judgement::Invalid(format!(
                "the observation is a list of {} value(s); wrap `{}` in every/any/none/count",
                items.len(),
                self.describe_op(op)
            )),
            (_, Observation::Scalar(v)) => self.judge_scalar(op, v),
        }
    }

    fn judge_scalar(&self, op: &Op, v: &Value) -> Judgement {
        let text = self.observed_text(v);
        let holds = match op {
            Op::Equals(lit) => self.value_eq(v, lit),
            Op::NotEquals(lit) => !self.value_eq(v, lit),
            Op::Contains(s) => self.fold(&text).contains(&self.fold(self.trim_legacy(s))),
            Op::NotContains(s) => !self.fold(&text).contains(&self.fold(self.trim_legacy(s))),
            Op::Matches(p) => p.regex.is_match(&text),
            Op::NotMatches(p) => !p.regex.is_match(&text),
            Op::In(items) => items.iter().any(|lit| self.value_eq(v, lit)),
            Op::NotIn(items) => !items.iter().any(|lit| self.value_eq(v, lit)),
            Op::Compare(cmp, lit) => match numeric_pair(v, lit) {
                Some((a, b)) => cmp.holds(a.partial_cmp(&b).unwrap_or(Ordering::Equal)),
                None => {
                    return Judgement::Fails(format!(
                        "expected a number {} {lit}, observed {:?} which is not a number",
                        cmp.symbol(),
                        text
                    ))
                }
            },
            Op::Version(cmp, lit) => cmp.holds(version::compare(&text, lit)),
            Op::ModeAtMost(mask) => {
                let mode = match v {
                    Value::Mode(m) => Some(*m),
                    Value::Int(i) => u32::try_from(*i).ok(),
                    Value::Text(t) => parse_mode(t),
                    Value::Bool(_) => None,
                };
                match mode {
                    Some(m) => m & !mask & 0o7777 == 0,
                    None => {
                        return Judgement::Fails(format!("expected a permission mode, observed {text:?}"))
                    }
                }
            }
            Op::Exists(_) | Op::Every(_) | Op::Any(_) | Op::None(_) | Op::Count(_) => true,
        };
        if holds {
            Judgement::Holds
        } else {
            Judgement::Fails(format!(
                "expected {}, observed {}",
                self.describe_op(op),
                Observation::Scalar(v.clone()).evidence()
            ))
        }
    }

    fn observed_text(&self, v: &Value) -> String {
        let s = v.to_string();
        if self.legacy.is_some() {
            s.trim().to_string()
        } else {
            s
        }
    }

    fn trim_legacy<'a>(&self, s: &'a str) -> &'a str {
        if self.legacy.is_some() {
            s.trim()
        } else {
            s
        }
    }

    fn fold(&self, s: &str) -> String {
        if self.ignore_case {
            s.to_lowercase()
        } else {
            s.to_string()
        }
    }

    fn text_eq(&self, v: &Value, lit: &str) -> bool {
        let a = self.observed_text(v);
        let b = self.trim_legacy(lit);
        if self.ignore_case {
            a.to_lowercase() == b.to_lowercase()
        } else {
            a == b
        }
    }

    /// Equality: numbers compare as numbers (modes as octal, booleans as booleans), other
    /// values as text. Legacy rules compare text only, as the original did.
    fn value_eq(&self, v: &Value, lit: &str) -> bool {
        if self.legacy.is_some() {
            return self.text_eq(v, lit);
        }
        match v {
            Value::Bool(b) => match lit.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => *b,
                "false" | "no" | "0" => !*b,
                _ => false,
            },
            _ => match numeric_pair(v, lit) {
                Some((a, b)) => a == b,
                None => self.text_eq(v, lit),
            },
        }
    }
}

/// Both sides as numbers when both parse; a mode reads the literal as octal.
fn numeric_pair(v: &Value, lit: &str) -> Option<(f64, f64)> {
    match v {
        Value::Mode(m) => parse_mode(lit).map(|l| (f64::from(*m), f64::from(l))),
        Value::Int(i) => parse_number(lit).map(|l| (*i as f64, l)),
        Value::Text(t) => Some((parse_number(t)?, parse_number(lit)?)),
        Value::Bool(_) => None,
    }
}

/// Applies a quantifier: a scalar counts as a one-item list and missing as an empty one.
fn quantify(obs: &Observation, f: impl FnOnce(&[Value]) -> Judgement) -> Judgement {
    match obs {
        Observation::Missing => f(&[]),
        Observation::Scalar(v) => f(std::slice::from_ref(v)),
        Observation::List(items) => f(items),
    }
}

/// The expectation back in its native policy form.
pub(crate) fn expect_to_json(e: &Expect) -> serde_json::Value {
    expect_json(e, false)
}

/// `inherited` is the enclosing expectation's ignore_case, which a nested one inherits when
/// it does not say otherwise; a nested `ignore_case: false` must therefore be written out.
fn expect_json(e: &Expect, inherited: bool) -> serde_json::Value {
    use serde_json::Value as J;
    let mut m = serde_json::Map::new();
    for op in &e.ops {
        let (k, v) = match op {
            Op::Equals(s) => ("equals", J::String(s.clone())),
            Op::NotEquals(s) => ("not_equals", J::String(s.clone())),
            Op::Contains(s) => ("contains", J::String(s.clone())),
            Op::NotContains(s) => ("not_contains", J::String(s.clone())),
            Op::Matches(p) => ("matches", J::String(p.source.clone())),
            Op::NotMatches(p) => ("not_matches", J::String(p.source.clone())),
            Op::In(v) => ("in", J::Array(v.iter().cloned().map(J::String).collect())),
            Op::NotIn(v) => ("not_in", J::Array(v.iter().cloned().map(J::String).collect())),
            Op::Compare(c, v) => (
                match c {
                    Cmp::Gt => "gt",
                    Cmp::Gte => "gte",
                    Cmp::Lt => "lt",
                    Cmp::Lte | Cmp::Eq => "lte",
                },
                J::String(v.clone()),
            ),
            Op::Version(c, v) => (
                match c {
                    Cmp::Gt => "version_gt",
                    Cmp::Gte => "version_gte",
                    Cmp::Lt => "version_lt",
                    Cmp::Lte => "version_lte",
                    Cmp::Eq => "version_eq",
                },
                J::String(v.clone()),
            ),
            Op::ModeAtMost(mask) => ("mode_at_most", J::String(format!("{mask:04o}"))),
            Op::Exists(b) => ("exists", J::Bool(*b)),
            Op::Every(inner) => ("every", expect_json(inner, e.ignore_case)),
            Op::Any(inner) => ("any", expect_json(inner, e.ignore_case)),
            Op::None(inner) => ("none", expect_json(inner, e.ignore_case)),
            Op::Count(inner) => ("count", expect_json(inner, e.ignore_case)),
        };
        m.insert(k.to_string(), v);
    }
    if e.ignore_case || inherited {
        m.insert("ignore_case".into(), J::Bool(e.ignore_case));
    }
    J::Object(m)
}
