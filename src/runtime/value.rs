//! Run-time values. A value derived from a secret is wrapped in
//! [`Value::Secret`]; it prints as `•••` and its text is registered with
//! the [`Redactor`](super::redact::Redactor) wherever it leaves rbk.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};

/// What a secret prints as.
pub const MASK: &str = "•••";

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<str>),
    List(Arc<Nested<Value>>),
    /// A JSON object (or a record such as `instance`), in insertion order.
    Object(Arc<Nested<(String, Value)>>),
    Datetime(DateTime<FixedOffset>),
    Duration(Duration),
    Bytes(Arc<Vec<u8>>),
    Range(i64, i64),
    Cert(Arc<Certificate>),
    Step(Arc<StepResult>),
    /// A value derived from `secret(...)`.
    Secret(Arc<Value>),
    /// Not known before the request is sent (dry runs).
    Unknown,
}

/// How many levels a value built by a literal may nest. Only a loop that
/// wraps a value in itself, level after level, gets here; the walks over
/// values (compare, print, serialise, drop) recurse. 100 leaves room for
/// the envelopes a value is shown in (`rbk serve`'s run records) within
/// the 128 levels that serde_json reads by default, so whatever rbk writes
/// rbk and the usual JSON readers can read back.
pub const MAX_DEPTH: u32 = 100;

/// The items of a list or the members of an object, with how deep they
/// nest (known when built, so that wrapping a value in a loop can be
/// stopped at [`MAX_DEPTH`] without walking it). Reads as the `Vec`.
#[derive(Debug, Clone, PartialEq)]
pub struct Nested<T> {
    items: Vec<T>,
    depth: u32,
}

impl<T> std::ops::Deref for Nested<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.items
    }
}

impl Nested<Value> {
    pub fn new(items: Vec<Value>) -> Nested<Value> {
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        Nested { items, depth }
    }
}

impl Nested<(String, Value)> {
    pub fn new(items: Vec<(String, Value)>) -> Nested<(String, Value)> {
        let depth = 1 + items.iter().map(|(_, v)| v.depth()).max().unwrap_or(0);
        Nested { items, depth }
    }
}

/// A client certificate as written: PEM text or PKCS#12 bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Certificate {
    Pem {
        cert: String,
        key: String,
        password: Option<String>,
    },
    Pfx {
        der: Vec<u8>,
        password: Option<String>,
    },
}

/// A step's outputs: (name, value), names shared across results. One
/// output (the common case) is kept inside the result itself: a loop keeps
/// a result per item, and a second allocation per item showed.
pub type Outputs = smallvec::SmallVec<[(Arc<str>, Value); 1]>;

/// The result of a step: the six fields every result has, plus outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    pub ok: bool,
    pub status: i64,
    /// The response's headers and body, kept only when the program may
    /// read them (`.headers`, `.body`): a loop keeps a result per item.
    pub raw: Option<Box<RawResponse>>,
    pub error: Option<String>,
    /// The kind of `error` (its code for reports), when the step failed.
    pub error_kind: Option<super::ErrorKind>,
    pub elapsed: Duration,
    /// Output names are shared by every result of the method (interned).
    pub outputs: Outputs,
}

/// A step's response headers and body as its result keeps them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawResponse {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl StepResult {
    /// The response headers (none kept, or none received: empty).
    pub fn headers(&self) -> &[(String, String)] {
        self.raw.as_ref().map_or(&[], |r| &r.headers)
    }

    /// The response body as text (none kept, or none received: empty).
    pub fn body(&self) -> &str {
        self.raw.as_ref().map_or("", |r| &r.body)
    }

    /// Keeps `headers` and `body` (nothing when both are empty).
    pub fn with_raw(mut self, headers: Vec<(String, String)>, body: String) -> StepResult {
        self.raw = (!headers.is_empty() || !body.is_empty())
            .then(|| Box::new(RawResponse { headers, body }));
        self
    }

    pub fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "ok" => Value::Bool(self.ok),
            "status" => Value::Int(self.status),
            "headers" => Value::object(
                self.headers()
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), Value::str(v)))
                    .collect(),
            ),
            "body" => Value::str(self.body()),
            "error" => match &self.error {
                Some(e) => Value::str(e),
                None => Value::Null,
            },
            "elapsed" => Value::Duration(self.elapsed),
            _ => {
                return self
                    .outputs
                    .iter()
                    .find(|(k, _)| &**k == name)
                    .map(|(_, v)| v.clone());
            }
        })
    }
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(Nested::<Value>::new(items)))
    }

    pub fn object(fields: Vec<(String, Value)>) -> Value {
        Value::Object(Arc::new(Nested::<(String, Value)>::new(fields)))
    }

    /// How many levels of lists, objects and step results the value
    /// nests (0 for a scalar, 1 for `[1, 2]`). Known without a walk,
    /// except for a step result's outputs (one level).
    pub fn depth(&self) -> u32 {
        match self {
            Value::List(l) => l.depth,
            Value::Object(o) => o.depth,
            Value::Secret(v) => v.depth(),
            Value::Step(s) => 1 + s.outputs.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// Wraps in the secret taint when `secret`.
    pub fn taint(self, secret: bool) -> Value {
        if secret && !matches!(self, Value::Secret(_) | Value::Null | Value::Unknown) {
            Value::Secret(Arc::new(self))
        } else {
            self
        }
    }

    pub fn is_secret(&self) -> bool {
        match self {
            Value::Secret(_) => true,
            Value::List(items) => items.iter().any(Value::is_secret),
            Value::Object(fields) => fields.iter().any(|(_, v)| v.is_secret()),
            _ => false,
        }
    }

    /// The value without its taint (the caller registers the text).
    pub fn reveal(&self) -> &Value {
        match self {
            Value::Secret(v) => v.reveal(),
            v => v,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.reveal(), Value::Null)
    }

    pub fn type_name(&self) -> &'static str {
        match self.reveal() {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Object(_) => "object",
            Value::Datetime(_) => "datetime",
            Value::Duration(_) => "duration",
            Value::Bytes(_) => "bytes",
            Value::Range(..) => "range",
            Value::Cert(_) => "certificate",
            Value::Step(_) => "step result",
            Value::Secret(_) => "secret",
            Value::Unknown => "unknown",
        }
    }

    /// The text a value interpolates as, secrets included (callers decide
    /// whether the result is tainted).
    pub fn to_text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Str(s) => s.to_string(),
            Value::Secret(v) => v.to_text(),
            Value::Datetime(d) => d.to_rfc3339(),
            Value::Duration(d) => format_duration(*d),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::Unknown => "…".to_string(),
            other => other.to_json(true).to_string(),
        }
    }

    /// The value as JSON; secrets revealed when `reveal`, masked otherwise.
    pub fn to_json(&self, reveal: bool) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null | Value::Unknown => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            Value::Str(s) => J::String(s.to_string()),
            Value::List(items) => J::Array(items.iter().map(|v| v.to_json(reveal)).collect()),
            Value::Object(fields) => J::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json(reveal)))
                    .collect(),
            ),
            Value::Datetime(d) => J::String(d.to_rfc3339()),
            Value::Duration(d) => J::String(format_duration(*d)),
            Value::Bytes(b) => J::String(String::from_utf8_lossy(b).into_owned()),
            Value::Range(a, b) => J::String(format!("{a}..{b}")),
            Value::Cert(_) => J::String("<certificate>".into()),
            Value::Step(s) => {
                let mut m = serde_json::Map::new();
                m.insert("ok".into(), J::Bool(s.ok));
                m.insert("status".into(), J::from(s.status));
                for (k, v) in &s.outputs {
                    m.insert(k.to_string(), v.to_json(reveal));
                }
                J::Object(m)
            }
            Value::Secret(v) => {
                if reveal {
                    v.to_json(true)
                } else {
                    J::String(MASK.into())
                }
            }
        }
    }

    pub fn from_json(j: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match j {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            J::String(s) => Value::str(s),
            J::Array(a) => Value::list(a.iter().map(Value::from_json).collect()),
            J::Object(o) => Value::object(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Truthiness for conditions: only `true` is true.
    pub fn as_bool(&self) -> Option<bool> {
        match self.reveal() {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// A value serialized as JSON with objects in their insertion order (the
/// order the program wrote them), unlike [`Value::to_json`], whose maps are
/// sorted. Secrets are revealed when the flag is set, masked otherwise.
pub struct Ordered<'a>(pub &'a Value, pub bool);

impl serde::Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        let reveal = self.1;
        match self.0 {
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items.iter() {
                    seq.serialize_element(&Ordered(i, reveal))?;
                }
                seq.end()
            }
            Value::Object(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    // A later duplicate key wins, as in a JSON map.
                    if fields[i + 1..].iter().any(|(k2, _)| k2 == k) {
                        continue;
                    }
                    map.serialize_entry(k, &Ordered(v, reveal))?;
                }
                map.end()
            }
            Value::Step(st) => {
                let mut map = s.serialize_map(None)?;
                map.serialize_entry("ok", &st.ok)?;
                map.serialize_entry("status", &st.status)?;
                for (k, v) in &st.outputs {
                    map.serialize_entry(&**k, &Ordered(v, reveal))?;
                }
                map.end()
            }
            Value::Secret(v) if reveal => Ordered(v, reveal).serialize(s),
            other => other.to_json(reveal).serialize(s),
        }
    }
}

/// `1h30m`, `250ms`, `5s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let mut s = ms / 1000;
    let mut out = String::new();
    for (unit, size) in [("d", 86_400u128), ("h", 3_600), ("m", 60)] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Prints masked: secrets as `•••`, strings unquoted at the top level.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Secret(_) => write!(f, "{MASK}"),
            Value::Str(s) => write!(f, "{s}"),
            Value::Null => write!(f, "null"),
            Value::Datetime(_) | Value::Duration(_) | Value::Bytes(_) | Value::Unknown => {
                write!(f, "{}", self.to_text())
            }
            other => write!(f, "{}", other.to_json(false)),
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// A loop keeps one step result per item: its size is most of a long
    /// loop's memory (docs/performance.md).
    #[test]
    fn a_step_result_stays_small() {
        eprintln!(
            "Value {} StepResult {} Outputs {}",
            std::mem::size_of::<Value>(),
            std::mem::size_of::<StepResult>(),
            std::mem::size_of::<Outputs>()
        );
        assert!(std::mem::size_of::<Value>() <= 24);
        assert!(std::mem::size_of::<StepResult>() <= 136);
    }
}
