//! `rbk graph`: a runbook as the flow chart Halo users know — call steps as
//! boxes, conditions as diamonds, edges labelled success, failure, status
//! arms and loop-backs — in Mermaid or Graphviz DOT.

use std::fmt::Write as _;
use std::path::Path;

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::check::Program;
use crate::diagnostic::{self, Diagnostic, codes};
use crate::files::FileRootOptions;
use crate::syntax::ast::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Mermaid,
    Dot,
}

/// Loads and checks `file`, then prints the chart of `runbook` to stdout.
pub fn run(file: &Path, runbook: Option<&str>, format: Format, files: &FileRootOptions) -> u8 {
    let loaded = crate::load::load_file_in(file, &files.root_for(file));
    let unreadable = loaded
        .diagnostics
        .iter()
        .any(|d| d.code == codes::IO && d.primary.is_none());
    let checked = crate::check::check(loaded);
    if checked.has_errors() {
        let errors: Vec<Diagnostic> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        eprint!(
            "{}",
            diagnostic::render_human(&errors, &checked.program.sources, super::color_stderr())
        );
        return if unreadable { EXIT_USAGE } else { EXIT_FAILED };
    }
    let runbook = match super::run::pick_runbook(&checked.program, runbook) {
        Ok(name) => name,
        Err(msg) => {
            eprintln!("error[{}]: {msg}", codes::UNKNOWN_RUNBOOK);
            return EXIT_USAGE;
        }
    };
    let runbook = runbook.as_str();
    match render(&checked.program, runbook, format) {
        Some(text) => {
            print!("{text}");
            EXIT_OK
        }
        None => {
            let names: Vec<&str> = checked
                .program
                .runbooks
                .keys()
                .map(String::as_str)
                .collect();
            let help = match crate::check::suggest(runbook, names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None if names.is_empty() => "this program has no runbooks".to_string(),
                None => format!("the runbooks are: {}", names.join(", ")),
            };
            eprintln!(
                "error[{}]: there is no runbook `{runbook}` in {}\n  help: {help}",
                codes::UNKNOWN_RUNBOOK,
                file.display()
            );
            EXIT_USAGE
        }
    }
}

/// The chart of one runbook, or `None` when the program has no such runbook.
pub fn render(program: &Program, runbook: &str, format: Format) -> Option<String> {
    let rb = program.runbook(runbook)?;
    let mut g = Graph {
        program,
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    let start = g.node(Shape::Start, rb.name.name.clone());
    let open = g.block(&rb.body.stmts, vec![(start, None)]);
    if !open.is_empty() {
        let end = g.node(Shape::End, "end".to_string());
        g.connect(open, end);
    }
    Some(match format {
        Format::Mermaid => g.mermaid(),
        Format::Dot => g.dot(&rb.name.name),
    })
}

/// A node of the chart model (for `rbk serve`'s page, which draws it as
/// SVG): its shape (`start`, `end`, `step`, `decision`, `loop`, `action`,
/// `fail`, `return`, `fork`, `join`), label, and step name for steps.
#[derive(Debug, Clone)]
pub struct ChartNode {
    pub shape: &'static str,
    pub label: String,
    pub step: Option<String>,
}

/// An edge of the chart model: from, to, label.
pub type ChartEdge = (usize, usize, Option<String>);

/// The chart of `runbook` as nodes and edges.
pub fn model(program: &Program, runbook: &str) -> Option<(Vec<ChartNode>, Vec<ChartEdge>)> {
    let rb = program.runbook(runbook)?;
    let mut g = Graph {
        program,
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    let start = g.node(Shape::Start, rb.name.name.clone());
    let open = g.block(&rb.body.stmts, vec![(start, None)]);
    if !open.is_empty() {
        let end = g.node(Shape::End, "end".to_string());
        g.connect(open, end);
    }
    let nodes = g
        .nodes
        .iter()
        .map(|n| ChartNode {
            shape: match n.shape {
                Shape::Start => "start",
                Shape::End => "end",
                Shape::Step => "step",
                Shape::Decision => "decision",
                Shape::Loop => "loop",
                Shape::Action => "action",
                Shape::Fail => "fail",
                Shape::Return => "return",
                Shape::Fork => "fork",
                Shape::Join => "join",
            },
            label: n.label.clone(),
            step: (n.shape == Shape::Step)
                .then(|| {
                    n.label
                        .strip_prefix("step ")
                        .and_then(|l| l.split(':').next())
                        .map(str::to_string)
                })
                .flatten(),
        })
        .collect();
    let edges = g
        .edges
        .iter()
        .map(|e| (e.from, e.to, e.label.clone()))
        .collect();
    Some((nodes, edges))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Start,
    End,
    Step,
    Decision,
    Loop,
    Action,
    Fail,
    Return,
    Fork,
    Join,
}

struct Node {
    shape: Shape,
    label: String,
}

struct Edge {
    from: usize,
    to: usize,
    label: Option<String>,
}

/// Edges waiting for the next node: (from, label).
type Open = Vec<(usize, Option<String>)>;

struct Graph<'p> {
    program: &'p Program,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

impl Graph<'_> {
    fn node(&mut self, shape: Shape, label: String) -> usize {
        self.nodes.push(Node { shape, label });
        self.nodes.len() - 1
    }

    fn connect(&mut self, open: Open, to: usize) {
        for (from, label) in open {
            self.edges.push(Edge { from, to, label });
        }
    }

    fn text(&self, span: Span) -> String {
        let s = self.program.sources.snippet(span);
        let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
        if one_line.chars().count() > 60 {
            let cut: String = one_line.chars().take(57).collect();
            format!("{cut}...")
        } else {
            one_line
        }
    }

    fn block(&mut self, stmts: &[Stmt], mut open: Open) -> Open {
        for s in stmts {
            if open.is_empty() {
                break;
            }
            open = self.stmt(s, open);
        }
        open
    }

    fn stmt(&mut self, s: &Stmt, open: Open) -> Open {
        match &s.kind {
            StmtKind::Trigger(t) => {
                let label = match &t.value {
                    Some(v) => format!("trigger {} {}", t.kind.name, self.text(v.span)),
                    None => format!("trigger {}", t.kind.name),
                };
                let n = self.node(Shape::Action, label);
                self.connect(open, n);
                vec![(n, None)]
            }
            StmtKind::Let(l) | StmtKind::Var(l) => {
                let word = if matches!(s.kind, StmtKind::Var(_)) {
                    "var"
                } else {
                    "let"
                };
                let n = self.node(
                    Shape::Action,
                    format!("{word} {} = {}", l.name.name, self.text(l.value.span)),
                );
                self.connect(open, n);
                vec![(n, None)]
            }
            StmtKind::Assign(a) => self.action(
                open,
                format!(
                    "{} {} {}",
                    a.name.name,
                    a.op.as_str(),
                    self.text(a.value.span)
                ),
            ),
            StmtKind::Wait(e) => self.action(open, format!("wait {}", self.text(e.span))),
            StmtKind::Log(e) => self.action(open, format!("log {}", self.text(e.span))),
            StmtKind::Fail(e) => {
                let n = self.node(Shape::Fail, format!("fail {}", self.text(e.span)));
                self.connect(open, n);
                Vec::new()
            }
            StmtKind::Return(v) => {
                let label = match v {
                    Some(e) => format!("return {}", self.text(e.span)),
                    None => "return".to_string(),
                };
                let n = self.node(Shape::Return, label);
                self.connect(open, n);
                Vec::new()
            }
            StmtKind::Block(b) => self.block(&b.stmts, open),
            StmtKind::Step(st) => self.step(st, open),
            StmtKind::If(i) => {
                let d = self.node(Shape::Decision, self.text(i.cond.span));
                self.connect(open, d);
                let mut out = self.block(&i.then.stmts, vec![(d, Some("yes".into()))]);
                match &i.otherwise {
                    Some(Else::Block(b)) => {
                        out.extend(self.block(&b.stmts, vec![(d, Some("no".into()))]))
                    }
                    Some(Else::If(s)) => out.extend(self.stmt(s, vec![(d, Some("no".into()))])),
                    None => out.push((d, Some("no".into()))),
                }
                out
            }
            StmtKind::For(f) => {
                let mut label = format!("for {} in {}", f.var.name, self.text(f.iter.span));
                if let Some(p) = &f.parallel {
                    write!(label, " (parallel {})", self.text(p.span)).ok();
                }
                let l = self.node(Shape::Loop, label);
                self.connect(open, l);
                let body_end = self.block(&f.body.stmts, vec![(l, Some("each".into()))]);
                for (from, _) in body_end {
                    self.edges.push(Edge {
                        from,
                        to: l,
                        label: Some("next".into()),
                    });
                }
                vec![(l, Some("done".into()))]
            }
            StmtKind::Parallel(b) => {
                let fork = self.node(Shape::Fork, "parallel".into());
                self.connect(open, fork);
                let mut ends = Vec::new();
                for branch in &b.stmts {
                    ends.extend(self.stmt(branch, vec![(fork, None)]));
                }
                let join = self.node(Shape::Join, "join".into());
                self.connect(ends, join);
                vec![(join, None)]
            }
        }
    }

    fn action(&mut self, open: Open, label: String) -> Open {
        let n = self.node(Shape::Action, label);
        self.connect(open, n);
        vec![(n, None)]
    }

    fn step(&mut self, st: &Step, open: Open) -> Open {
        let target = match &st.call.target {
            CallTarget::Method {
                integration,
                method,
            } => format!("{}.{}", integration.name, method.name),
            CallTarget::Runbook(r) => format!("run {}", r.name),
        };
        let n = self.node(Shape::Step, format!("step {}: {}", st.name.name, target));
        self.connect(open, n);
        if let Some(u) = &st.until {
            let mut label = format!("until {}", self.text(u.cond.span));
            write!(label, ", every {}", self.text(u.every.span)).ok();
            if let Some(m) = &u.max {
                write!(label, ", max {}", self.text(m.span)).ok();
            }
            self.edges.push(Edge {
                from: n,
                to: n,
                label: Some(label),
            });
        }
        let Some(arms) = &st.arms else {
            return vec![(n, None)];
        };
        let mut out: Open = vec![(n, Some("success".into()))];
        for arm in arms {
            let label = arm
                .patterns
                .iter()
                .map(|p| match p.kind {
                    PatternKind::Status(s) => s.to_string(),
                    PatternKind::Range(a, b) => format!("{a}..{b}"),
                    PatternKind::Timeout => "timeout".into(),
                    PatternKind::Error => "error".into(),
                    PatternKind::Any => "failure".into(),
                })
                .collect::<Vec<_>>()
                .join(" | ");
            out.extend(self.stmt(&arm.body, vec![(n, Some(label))]));
        }
        out
    }

    fn mermaid(&self) -> String {
        let mut out = String::from("flowchart TD\n");
        for (i, n) in self.nodes.iter().enumerate() {
            let l = mermaid_escape(&n.label);
            let node = match n.shape {
                Shape::Start | Shape::End => format!("n{i}([\"{l}\"])"),
                Shape::Step => format!("n{i}[\"{l}\"]"),
                Shape::Decision => format!("n{i}{{\"{l}\"}}"),
                Shape::Loop => format!("n{i}[[\"{l}\"]]"),
                Shape::Action => format!("n{i}(\"{l}\")"),
                Shape::Fail | Shape::Return => format!("n{i}([\"{l}\"])"),
                Shape::Fork | Shape::Join => format!("n{i}{{{{\"{l}\"}}}}"),
            };
            writeln!(out, "    {node}").ok();
        }
        for e in &self.edges {
            match &e.label {
                Some(l) => writeln!(
                    out,
                    "    n{} -->|\"{}\"| n{}",
                    e.from,
                    mermaid_escape(l),
                    e.to
                ),
                None => writeln!(out, "    n{} --> n{}", e.from, e.to),
            }
            .ok();
        }
        let fails: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.shape == Shape::Fail)
            .map(|(i, _)| format!("n{i}"))
            .collect();
        if !fails.is_empty() {
            writeln!(out, "    classDef failure fill:#fdd,stroke:#c00").ok();
            writeln!(out, "    class {} failure", fails.join(",")).ok();
        }
        out
    }

    fn dot(&self, name: &str) -> String {
        let mut out = format!("digraph \"{}\" {{\n", dot_escape(name));
        out.push_str("    node [fontname=\"Helvetica\"];\n");
        for (i, n) in self.nodes.iter().enumerate() {
            let attrs = match n.shape {
                Shape::Start | Shape::End | Shape::Return => "shape=oval",
                Shape::Step => "shape=box",
                Shape::Decision => "shape=diamond",
                Shape::Loop => "shape=hexagon",
                Shape::Action => "shape=box, style=rounded",
                Shape::Fail => "shape=oval, style=filled, fillcolor=\"#ffdddd\"",
                Shape::Fork | Shape::Join => "shape=box, style=bold",
            };
            writeln!(
                out,
                "    n{i} [label=\"{}\", {attrs}];",
                dot_escape(&n.label)
            )
            .ok();
        }
        for e in &self.edges {
            match &e.label {
                Some(l) => writeln!(
                    out,
                    "    n{} -> n{} [label=\"{}\"];",
                    e.from,
                    e.to,
                    dot_escape(l)
                ),
                None => writeln!(out, "    n{} -> n{};", e.from, e.to),
            }
            .ok();
        }
        out.push_str("}\n");
        out
    }
}

/// Mermaid labels are quoted; quotes and angle brackets use entity codes.
fn mermaid_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            c => out.push(c),
        }
    }
    out
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
