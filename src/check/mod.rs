//! Meaning: name resolution across imports, types, definite binding over the
//! flow of each runbook, settings and auth completeness, and secret flow.
//!
//! [`check`] turns a [`Loaded`] program into a [`Program`] the runtime can
//! trust, plus every diagnostic found.

mod auth;
pub mod builtins;
mod calls;
mod expr;
mod flow;
mod methods;
mod resolve;
mod settings;
mod triggers;
pub mod types;
mod xml;

use std::collections::BTreeMap;

use crate::diagnostic::{self, Diagnostic};
use crate::load::Loaded;
use crate::syntax::ast::*;
use crate::syntax::span::SourceMap;

pub use resolve::suggest;

/// Where a top-level item lives: `modules[module].items[item]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemRef {
    pub module: usize,
    pub item: usize,
}

/// The key of [`Program::methods`], comparable whether its names are owned
/// or borrowed, so that a lookup allocates nothing.
pub trait MethodKey {
    fn names(&self) -> (&str, &str);
}

impl MethodKey for (String, String) {
    fn names(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl MethodKey for (&str, &str) {
    fn names(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn MethodKey + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn MethodKey + 'a) {
        self
    }
}

impl PartialEq for dyn MethodKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.names() == other.names()
    }
}

impl Eq for dyn MethodKey + '_ {}

impl PartialOrd for dyn MethodKey + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The same order as `(String, String)`'s: by integration, then name.
impl Ord for dyn MethodKey + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.names().cmp(&other.names())
    }
}

/// A checked program: every file, and the top-level definitions by name.
#[derive(Debug, Clone)]
pub struct Program {
    pub sources: SourceMap,
    pub modules: Vec<Module>,
    pub root: FileId,
    /// Instances in declaration order (root file first); the first is the default.
    pub instances: Vec<ItemRef>,
    pub integrations: BTreeMap<String, ItemRef>,
    /// Keyed by (integration, method).
    pub methods: BTreeMap<(String, String), ItemRef>,
    pub runbooks: BTreeMap<String, ItemRef>,
    /// Where the program may read files: the root it was loaded under.
    pub file_root: crate::files::FileRoot,
}

impl Program {
    fn item(&self, r: ItemRef) -> &Item {
        &self.modules[r.module].items[r.item]
    }

    pub fn instance(&self, r: ItemRef) -> Option<&Instance> {
        match self.item(r) {
            Item::Instance(i) => Some(i),
            _ => None,
        }
    }

    pub fn integration(&self, name: &str) -> Option<&Integration> {
        match self.item(*self.integrations.get(name)?) {
            Item::Integration(i) => Some(i),
            _ => None,
        }
    }

    pub fn method(&self, integration: &str, name: &str) -> Option<&Method> {
        // Looked up by borrowed names: a call looks its method up for every
        // request, and two `String`s per lookup showed in the profile.
        let r = self.methods.get(&(integration, name) as &dyn MethodKey)?;
        match self.item(*r) {
            Item::Method(m) => Some(m),
            _ => None,
        }
    }

    pub fn runbook(&self, name: &str) -> Option<&Runbook> {
        match self.item(*self.runbooks.get(name)?) {
            Item::Runbook(r) => Some(r),
            _ => None,
        }
    }

    /// Every method of the program, in (integration, name) order.
    pub fn all_methods(&self) -> impl Iterator<Item = &Method> {
        self.methods.values().filter_map(|r| match self.item(*r) {
            Item::Method(m) => Some(m),
            _ => None,
        })
    }

    /// Every runbook of the program, in name order.
    pub fn all_runbooks(&self) -> impl Iterator<Item = &Runbook> {
        self.runbooks.values().filter_map(|r| match self.item(*r) {
            Item::Runbook(rb) => Some(rb),
            _ => None,
        })
    }

    /// Every integration of the program, in name order.
    pub fn all_integrations(&self) -> impl Iterator<Item = &Integration> {
        self.integrations
            .values()
            .filter_map(|r| match self.item(*r) {
                Item::Integration(i) => Some(i),
                _ => None,
            })
    }

    /// Instance declarations in order; the first is the default.
    pub fn all_instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter_map(|r| self.instance(*r))
    }
}

/// The result of checking: the program (also when it has errors, for tools
/// that work on partial programs) and the sorted diagnostics.
#[derive(Debug, Clone)]
pub struct Checked {
    pub program: Program,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Checks a loaded program. Syntax errors stop checking (their items are
/// missing, so the checker would only report echoes of them).
pub fn check(loaded: Loaded) -> Checked {
    check_with(loaded, false).0
}

/// The type of every expression the checker typed, by its span (an
/// editor's hover reads it). Empty when checking stopped at syntax errors.
pub type TypeLog = Vec<(Span, types::T)>;

/// Checks a loaded program and also returns the type of every expression.
pub fn check_recording_types(loaded: Loaded) -> (Checked, TypeLog) {
    check_with(loaded, true)
}

fn check_with(loaded: Loaded, record: bool) -> (Checked, TypeLog) {
    let Loaded {
        sources,
        modules,
        mut diagnostics,
        root,
        file_root,
    } = loaded;
    let defs = resolve::collect(&modules, root, &mut diagnostics);
    let program = Program {
        sources,
        modules,
        root,
        instances: defs.instances,
        integrations: defs.integrations,
        methods: defs.methods,
        runbooks: defs.runbooks,
        file_root,
    };
    let mut log = TypeLog::new();
    if !diagnostics
        .iter()
        .any(|d| d.code == diagnostic::codes::SYNTAX)
    {
        let mut cx = Cx::new(&program);
        if record {
            cx.types = Some(TypeLog::new());
        }
        cx.check_all();
        diagnostics.append(&mut cx.diags);
        log = cx.types.take().unwrap_or_default();
    }
    diagnostic::sort(&mut diagnostics);
    (
        Checked {
            program,
            diagnostics,
        },
        log,
    )
}

/// The type of `instance` (the fields common to the instances), for completion.
pub fn instance_type(program: &Program) -> types::T {
    settings::instance_type(program)
}

/// The auth kinds (`auth KIND { ... }`), for completion.
pub fn auth_kinds() -> &'static [&'static str] {
    auth::KINDS
}

/// The fields of an auth kind, each with whether it is required.
pub fn auth_fields(kind: &str) -> Vec<(&'static str, bool)> {
    auth::fields(kind)
        .unwrap_or_default()
        .iter()
        .map(|f| (f.name, f.required))
        .collect()
}

/// What checking one REPL input found.
#[derive(Debug, Clone)]
pub struct ReplChecked {
    pub diagnostics: Vec<Diagnostic>,
    /// Every binding after the input (the old ones, plus what it bound).
    pub bindings: Vec<(String, types::T)>,
    /// The names among `bindings` declared with `var` (assignable).
    pub mutable: Vec<String>,
    /// The type of an expression input.
    pub ty: Option<types::T>,
}

/// Checks one REPL input against the loaded program and the session's
/// bindings (names with their types; `mutable` names those declared `var`).
pub fn check_repl(
    program: &Program,
    bindings: &[(String, types::T)],
    mutable: &[String],
    input: &crate::syntax::ReplInput,
) -> ReplChecked {
    let mut cx = Cx::new(program);
    let vars: expr::Vars = bindings
        .iter()
        .map(|(k, t)| {
            let kind = if mutable.contains(k) {
                expr::BindKind::Var
            } else if matches!(t.ty, types::Ty::Step(_)) {
                expr::BindKind::Step
            } else {
                expr::BindKind::Let
            };
            (
                k.clone(),
                expr::Binding {
                    ty: t.clone(),
                    span: Span::default(),
                    kind,
                },
            )
        })
        .collect();
    let (vars, ty) = match input {
        crate::syntax::ReplInput::Stmt(s) => (cx.repl_stmt(s, vars), None),
        crate::syntax::ReplInput::Expr(e) => {
            let scope = expr::Scope {
                vars: &vars,
                ctx: expr::Ctx::Runbook,
                declared: None,
            };
            let t = cx.expr(e, &scope);
            (vars.clone(), Some(t))
        }
    };
    let mut diagnostics = cx.diags;
    diagnostic::sort(&mut diagnostics);
    let mut mutable: Vec<String> = vars
        .iter()
        .filter(|(_, b)| b.kind == expr::BindKind::Var)
        .map(|(k, _)| k.clone())
        .collect();
    mutable.sort();
    let mut bindings: Vec<(String, types::T)> = vars.into_iter().map(|(k, b)| (k, b.ty)).collect();
    bindings.sort_by(|a, b| a.0.cmp(&b.0));
    ReplChecked {
        diagnostics,
        bindings,
        mutable,
        ty,
    }
}

/// Shared state of one checking pass.
pub(crate) struct Cx<'p> {
    pub program: &'p Program,
    pub diags: Vec<Diagnostic>,
    /// The `instance` record's type (fields common to the instances).
    pub instance_ty: types::T,
    /// The `xml_namespaces` prefixes the method being checked sees.
    pub xml_prefixes: Vec<String>,
    /// Set while checking the `{raw(x)}` of a `body xml` string.
    pub raw_allowed: bool,
    /// When set, the type of every expression typed (for editors).
    pub types: Option<TypeLog>,
}

impl<'p> Cx<'p> {
    fn new(program: &'p Program) -> Cx<'p> {
        let instance_ty = settings::instance_type(program);
        Cx {
            program,
            diags: Vec::new(),
            instance_ty,
            xml_prefixes: Vec::new(),
            raw_allowed: false,
            types: None,
        }
    }

    pub fn report(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn check_all(&mut self) {
        let program = self.program;
        for inst in program.all_instances() {
            self.check_instance(inst);
        }
        for integ in program.all_integrations() {
            self.check_integration(integ);
        }
        for m in program.all_methods() {
            self.check_method(m);
        }
        for rb in program.all_runbooks() {
            self.check_runbook(rb);
        }
    }

    /// The directory file()/bytes() paths are relative to.
    /// Looks at a literal path given to file(), bytes() or a `bytes` body
    /// (relative to the file that names it), as the run will read it: a
    /// warning when it does not exist, an error when the file root refuses it.
    pub fn check_program_file(&mut self, rel: &str, span: Span) {
        let path = self.base_dir(span).join(rel);
        match self.program.file_root.inspect(&path) {
            Ok(_) => {}
            Err(r) if r.is_not_found() => self.report(
                Diagnostic::warning(
                    diagnostic::codes::MISSING_FILE,
                    format!("`{rel}` does not exist (looked for {})", path.display()),
                )
                .at(span, "file not found")
                .help("paths are relative to the .rbk file that names them; the run will fail unless the file is there by then"),
            ),
            Err(r) if r.is_io_error() => {}
            Err(r) => self.report(
                Diagnostic::error(diagnostic::codes::FILE_REFUSED, format!("file refused: {r}"))
                    .at(span, "refused")
                    .help(r.help()),
            ),
        }
    }

    pub fn base_dir(&self, span: Span) -> std::path::PathBuf {
        self.program
            .sources
            .get(span.file)
            .path
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default()
    }
}
