//! The static types of rbk values, with the secret taint.

use std::fmt;
use std::rc::Rc;

use crate::syntax::ast::TypeExpr;

/// A type. `Any` stands for "already reported": it fits everywhere so that
/// one mistake is reported once.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    Str,
    Int,
    Float,
    Bool,
    Datetime,
    Duration,
    /// Any JSON value; dynamic: converted where a typed value is needed,
    /// checked when the runbook runs.
    Json,
    Bytes,
    Null,
    Certificate,
    /// `200..299`, used in `expect`, `retry.on` and `in`.
    Range,
    List(Box<Ty>),
    Optional(Box<Ty>),
    /// A record with known fields: `instance`, the result of `run`.
    Record(Rc<Record>),
    /// The result of a call step.
    Step(Rc<StepTy>),
    Any,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub name: String,
    pub fields: Vec<(String, Ty)>,
    /// When true, unknown fields are json (a runbook that returns a non-object).
    pub open: bool,
}

/// What a step called, and whether its outputs are known to be set.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTy {
    pub step: String,
    /// `integration.method` or `run runbook`.
    pub target: String,
    pub outputs: Vec<(String, Ty)>,
    /// The outputs declared `secret` (their values are secrets).
    pub secrets: Vec<String>,
    /// False after an else arm that falls through: only the six result
    /// fields may be read.
    pub succeeded: bool,
    /// When true, unknown outputs are json (the result of `run`).
    pub open: bool,
    /// The else arm that let the runbook continue after a failure.
    pub unset_by: Option<crate::syntax::ast::Span>,
}

/// The fields every step result has, besides its outputs.
pub const RESULT_FIELDS: [&str; 6] = ["ok", "status", "headers", "body", "error", "elapsed"];

/// The type of a step result field other than an output.
pub fn result_field(name: &str) -> Option<Ty> {
    Some(match name {
        "ok" => Ty::Bool,
        "status" => Ty::Int,
        "headers" => Ty::Json,
        "body" => Ty::Str,
        "error" => Ty::Optional(Box::new(Ty::Str)),
        "elapsed" => Ty::Duration,
        _ => return None,
    })
}

/// A type plus the secret taint.
#[derive(Debug, Clone, PartialEq)]
pub struct T {
    pub ty: Ty,
    pub secret: bool,
}

impl T {
    pub fn new(ty: Ty) -> T {
        T { ty, secret: false }
    }

    pub fn secret(ty: Ty, secret: bool) -> T {
        T { ty, secret }
    }

    pub fn any() -> T {
        T::new(Ty::Any)
    }
}

impl Ty {
    pub fn is_any(&self) -> bool {
        matches!(self, Ty::Any)
    }

    /// Json and Any are checked at run time.
    pub fn is_dynamic(&self) -> bool {
        matches!(self, Ty::Any | Ty::Json)
    }

    pub fn is_numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::Float)
    }

    /// The type without `?`.
    pub fn strip_optional(&self) -> &Ty {
        match self {
            Ty::Optional(t) => t.strip_optional(),
            t => t,
        }
    }

    pub fn optional(self) -> Ty {
        match self {
            Ty::Optional(_) | Ty::Json | Ty::Any | Ty::Null => self,
            t => Ty::Optional(Box::new(t)),
        }
    }
}

/// Whether a value of type `from` may be used where `to` is expected:
/// equal types, int to float, anything to json, `T` or null to `T?`, and
/// json (dynamic) to anything.
pub fn assignable(from: &Ty, to: &Ty) -> bool {
    match (from, to) {
        (Ty::Any, _) | (_, Ty::Any) => true,
        (Ty::Json, _) | (_, Ty::Json) => true,
        (a, b) if a == b => true,
        (Ty::Int, Ty::Float) => true,
        (Ty::Null, Ty::Optional(_)) => true,
        (Ty::Optional(a), Ty::Optional(b)) => assignable(a, b),
        (a, Ty::Optional(b)) => assignable(a, b),
        (Ty::List(a), Ty::List(b)) => assignable(a, b),
        (Ty::Record(_), Ty::Record(_)) => false,
        _ => false,
    }
}

/// The type of a value that is either `a` or `b` (list elements, `??`).
pub fn unify(a: &Ty, b: &Ty) -> Ty {
    match (a, b) {
        (Ty::Any, t) | (t, Ty::Any) => t.clone(),
        (x, y) if x == y => x.clone(),
        (Ty::Int, Ty::Float) | (Ty::Float, Ty::Int) => Ty::Float,
        (Ty::Null, t) | (t, Ty::Null) => t.clone().optional(),
        (Ty::Optional(x), y) | (y, Ty::Optional(x)) => unify(x, y).optional(),
        (Ty::List(x), Ty::List(y)) => Ty::List(Box::new(unify(x, y))),
        _ => Ty::Json,
    }
}

/// The names of the written types.
pub const TYPE_NAMES: [&str; 8] = [
    "string", "int", "float", "bool", "datetime", "duration", "json", "secret",
];

/// Resolves a written type; `Err` holds the unknown name's expression.
pub fn resolve_type(t: &TypeExpr) -> Result<T, &crate::syntax::ast::Ident> {
    Ok(match t {
        TypeExpr::Named(id) => match id.name.as_str() {
            "string" => T::new(Ty::Str),
            "int" => T::new(Ty::Int),
            "float" => T::new(Ty::Float),
            "bool" => T::new(Ty::Bool),
            "datetime" => T::new(Ty::Datetime),
            "duration" => T::new(Ty::Duration),
            "json" => T::new(Ty::Json),
            "secret" => T::secret(Ty::Str, true),
            _ => return Err(id),
        },
        TypeExpr::List(inner, _) => {
            let t = resolve_type(inner)?;
            T::secret(Ty::List(Box::new(t.ty)), t.secret)
        }
        TypeExpr::Optional(inner, _) => {
            let t = resolve_type(inner)?;
            T::secret(t.ty.optional(), t.secret)
        }
    })
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Str => write!(f, "string"),
            Ty::Int => write!(f, "int"),
            Ty::Float => write!(f, "float"),
            Ty::Bool => write!(f, "bool"),
            Ty::Datetime => write!(f, "datetime"),
            Ty::Duration => write!(f, "duration"),
            Ty::Json => write!(f, "json"),
            Ty::Bytes => write!(f, "bytes"),
            Ty::Null => write!(f, "null"),
            Ty::Certificate => write!(f, "certificate"),
            Ty::Range => write!(f, "range"),
            Ty::List(t) => write!(f, "[{t}]"),
            Ty::Optional(t) => write!(f, "{t}?"),
            Ty::Record(r) => write!(f, "{}", r.name),
            Ty::Step(s) => write!(f, "result of {}", s.target),
            Ty::Any => write!(f, "any"),
        }
    }
}

impl fmt::Display for T {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret && self.ty == Ty::Str {
            write!(f, "secret")
        } else if self.secret {
            write!(f, "{} (secret)", self.ty)
        } else {
            write!(f, "{}", self.ty)
        }
    }
}
