//! The typed syntax tree of one `.rbk` file. Every node carries a [`Span`].
//!
//! Literals keep their source text (`raw`) so that the formatter prints them
//! back exactly as written.

pub use super::span::{FileId, Span};

/// A name with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// One parsed file.
#[derive(Debug, Clone, PartialEq)]
pub struct Module {
    pub file: FileId,
    pub items: Vec<Item>,
    /// Every comment in the file, in source order (doc comments included).
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// The comment text including its leading `#` or `##`.
    pub text: String,
    pub span: Span,
}

impl Comment {
    pub fn is_doc(&self) -> bool {
        self.text.starts_with("##")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Import(Import),
    Instance(Instance),
    Integration(Integration),
    Method(Method),
    Runbook(Runbook),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Import(i) => i.span,
            Item::Instance(i) => i.span,
            Item::Integration(i) => i.span,
            Item::Method(m) => m.span,
            Item::Runbook(r) => r.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    pub path: StringLit,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub name: Ident,
    pub body: Block,
    pub doc: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    pub name: Ident,
    pub body: Block,
    pub doc: Option<String>,
    pub span: Span,
}

/// A configuration block: `{ key = value, key LABEL { ... }, key LABEL }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub entries: Vec<Entry>,
    pub span: Span,
}

impl Block {
    /// The first entry with this key.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key.name == key)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: Key,
    pub value: EntryValue,
    pub doc: Option<String>,
    pub span: Span,
}

/// A block key: a bare word or a quoted string (for header names).
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub quoted: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EntryValue {
    /// `key = expr [as "content/type"]`
    Expr {
        value: Expr,
        content_type: Option<Expr>,
    },
    /// `key [LABEL] { ... }`
    Block { label: Option<Ident>, block: Block },
    /// `key LABEL`, e.g. `auth none`
    Label(Ident),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub doc: Option<String>,
    pub span: Span,
}

/// A written type: `string`, `[int]`, `json?`.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeExpr {
    Named(Ident),
    List(Box<TypeExpr>, Span),
    Optional(Box<TypeExpr>, Span),
}

impl std::fmt::Display for TypeExpr {
    /// The type as written: `string`, `[int]`, `json?`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeExpr::Named(id) => write!(f, "{}", id.name),
            TypeExpr::List(inner, _) => write!(f, "[{inner}]"),
            TypeExpr::Optional(inner, _) => write!(f, "{inner}?"),
        }
    }
}

impl TypeExpr {
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Named(i) => i.span,
            TypeExpr::List(_, s) | TypeExpr::Optional(_, s) => *s,
        }
    }
}

// ---------------------------------------------------------------- methods

#[derive(Debug, Clone, PartialEq)]
pub struct Method {
    pub integration: Ident,
    pub name: Ident,
    pub params: Vec<Param>,
    pub items: Vec<MethodItem>,
    pub doc: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MethodItem {
    Request(Request),
    Body(Body),
    Expect(Expr),
    Output(OutputBlock),
    Paginate(Paginate),
    Entry(Entry),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
            Verb::Head => "HEAD",
            Verb::Options => "OPTIONS",
        }
    }

    pub fn parse(s: &str) -> Option<Verb> {
        Some(match s {
            "GET" => Verb::Get,
            "POST" => Verb::Post,
            "PUT" => Verb::Put,
            "PATCH" => Verb::Patch,
            "DELETE" => Verb::Delete,
            "HEAD" => Verb::Head,
            "OPTIONS" => Verb::Options,
            _ => return None,
        })
    }
}

/// `GET "/users/{login}"`
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub verb: Verb,
    pub verb_span: Span,
    pub path: StringLit,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    pub kind: BodyKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BodyKind {
    Json(Expr),
    Form(Block),
    Multipart(Block),
    Text {
        value: Expr,
        content_type: Option<Expr>,
    },
    Xml {
        value: Expr,
        content_type: Option<Expr>,
    },
    Bytes {
        path: Expr,
        content_type: Option<Expr>,
    },
}

impl BodyKind {
    pub fn name(&self) -> &'static str {
        match self {
            BodyKind::Json(_) => "json",
            BodyKind::Form(_) => "form",
            BodyKind::Multipart(_) => "multipart",
            BodyKind::Text { .. } => "text",
            BodyKind::Xml { .. } => "xml",
            BodyKind::Bytes { .. } => "bytes",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputBlock {
    pub fields: Vec<OutputField>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputField {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub value: Expr,
    pub doc: Option<String>,
    pub span: Span,
}

/// `paginate KIND [= EXPR] [{ options }]`
#[derive(Debug, Clone, PartialEq)]
pub struct Paginate {
    pub kind: Ident,
    pub value: Option<Expr>,
    pub options: Option<Block>,
    pub span: Span,
}

// ---------------------------------------------------------------- runbooks

#[derive(Debug, Clone, PartialEq)]
pub struct Runbook {
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: StmtBlock,
    pub doc: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StmtBlock {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

/// A statement. `Step` is the largest and the most common, so it is not boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    Trigger(Trigger),
    Let(Let),
    /// `var NAME [: T] = EXPR`: a variable that assignments may change.
    Var(Let),
    /// `NAME = EXPR` or `NAME += EXPR`.
    Assign(Assign),
    Step(Step),
    If(If),
    For(For),
    Parallel(StmtBlock),
    Wait(Expr),
    Log(Expr),
    Fail(Expr),
    Return(Option<Expr>),
    Block(StmtBlock),
}

/// `trigger webhook "/hooks/x" { verify sign_hmac { ... } }`
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub kind: Ident,
    pub value: Option<Expr>,
    pub options: Option<Block>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Let {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub value: Expr,
}

/// `NAME = EXPR` or `NAME += EXPR`: changes a `var`.
#[derive(Debug, Clone, PartialEq)]
pub struct Assign {
    pub name: Ident,
    pub op: AssignOp,
    /// The span of `=` or `+=`.
    pub op_span: Span,
    pub value: Expr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignOp {
    /// `=`
    Set,
    /// `+=`: adds numbers, joins strings, appends a list to a list.
    Add,
}

impl AssignOp {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignOp::Set => "=",
            AssignOp::Add => "+=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: Ident,
    pub call: Call,
    pub until: Option<Until>,
    pub arms: Option<Vec<Arm>>,
    /// The span of the `else` keyword when arms are present.
    pub else_span: Option<Span>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub target: CallTarget,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CallTarget {
    /// `integration.method(...)`
    Method { integration: Ident, method: Ident },
    /// `run runbook(...)`
    Runbook(Ident),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

/// `until COND every DURATION max N`
#[derive(Debug, Clone, PartialEq)]
pub struct Until {
    pub cond: Expr,
    pub every: Expr,
    pub max: Option<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    pub patterns: Vec<Pattern>,
    pub body: Box<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub kind: PatternKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PatternKind {
    Status(i64),
    Range(i64, i64),
    Timeout,
    Error,
    Any,
}

#[derive(Debug, Clone, PartialEq)]
pub struct If {
    pub cond: Expr,
    pub then: StmtBlock,
    pub otherwise: Option<Else>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Else {
    If(Box<Stmt>),
    Block(StmtBlock),
}

#[derive(Debug, Clone, PartialEq)]
pub struct For {
    pub var: Ident,
    pub iter: Expr,
    pub parallel: Option<Expr>,
    pub body: StmtBlock,
}

// ---------------------------------------------------------------- expressions

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Int {
        value: i64,
        raw: String,
    },
    Float {
        value: f64,
        raw: String,
    },
    Bool(bool),
    Null,
    /// A duration literal, in milliseconds.
    Duration {
        millis: u64,
        raw: String,
    },
    Str(StringLit),
    List(Vec<Expr>),
    Object(Vec<ObjectEntry>),
    Name(Ident),
    Field(Box<Expr>, Ident),
    Index(Box<Expr>, Box<Expr>),
    Call(CallExpr),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `$.a.b[*]`, the query text as written.
    JsonPath(String),
    Paren(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObjectEntry {
    pub key: Key,
    pub value: Expr,
}

/// `len(x)` or `github.list_repos(org: "x")`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallExpr {
    pub func: Ident,
    /// Set for `integration.method(...)` calls.
    pub method: Option<Ident>,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Contains,
    Coalesce,
    Range,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::Contains => "contains",
            BinaryOp::Coalesce => "??",
            BinaryOp::Range => "..",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }

    /// Binding power, higher binds tighter (matches the parser's table).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => 4,
            BinaryOp::In | BinaryOp::Contains => 5,
            BinaryOp::Coalesce => 6,
            BinaryOp::Range => 7,
            BinaryOp::Add | BinaryOp::Sub => 8,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 9,
        }
    }
}

/// A string literal: text parts and `{expr}` interpolations.
#[derive(Debug, Clone, PartialEq)]
pub struct StringLit {
    pub parts: Vec<StrPart>,
    /// The literal as written, quotes included.
    pub raw: String,
    pub span: Span,
}

impl StringLit {
    /// The text when the literal has no interpolation.
    pub fn as_plain(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                StrPart::Text(t) => out.push_str(t),
                StrPart::Interp(_) => return None,
            }
        }
        Some(out)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StrPart {
    Text(String),
    Interp(Expr),
}
