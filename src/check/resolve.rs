//! Top-level names across every file of a program, and "did you mean".

use std::collections::BTreeMap;

use super::ItemRef;
use crate::diagnostic::{Diagnostic, codes};
use crate::syntax::ast::*;

pub(super) struct Defs {
    pub instances: Vec<ItemRef>,
    pub integrations: BTreeMap<String, ItemRef>,
    pub methods: BTreeMap<(String, String), ItemRef>,
    pub runbooks: BTreeMap<String, ItemRef>,
}

/// Indexes every definition; a name defined twice is reported at the second
/// definition with a label on the first.
pub(super) fn collect(modules: &[Module], root: FileId, diags: &mut Vec<Diagnostic>) -> Defs {
    let mut defs = Defs {
        instances: Vec::new(),
        integrations: BTreeMap::new(),
        methods: BTreeMap::new(),
        runbooks: BTreeMap::new(),
    };
    let mut instance_names: BTreeMap<String, Span> = BTreeMap::new();
    // The root file first, so that its first instance is the default.
    let mut order: Vec<usize> = (0..modules.len()).collect();
    order.sort_by_key(|&i| modules[i].file != root);
    let mut spans: BTreeMap<String, Span> = BTreeMap::new();
    for mi in order {
        for (ii, item) in modules[mi].items.iter().enumerate() {
            let r = ItemRef {
                module: mi,
                item: ii,
            };
            match item {
                Item::Import(_) => {}
                Item::Instance(inst) => {
                    if let Some(first) = instance_names.get(&inst.name.name) {
                        diags.push(duplicate("instance", &inst.name, *first));
                    } else {
                        instance_names.insert(inst.name.name.clone(), inst.name.span);
                        defs.instances.push(r);
                    }
                }
                Item::Integration(integ) => {
                    let key = format!("integration {}", integ.name.name);
                    if let Some(first) = spans.get(&key) {
                        diags.push(duplicate("integration", &integ.name, *first));
                    } else {
                        spans.insert(key, integ.name.span);
                        defs.integrations.insert(integ.name.name.clone(), r);
                    }
                }
                Item::Method(m) => {
                    let key = format!("method {}.{}", m.integration.name, m.name.name);
                    if let Some(first) = spans.get(&key) {
                        diags.push(duplicate("method", &m.name, *first));
                    } else {
                        spans.insert(key, m.name.span);
                        defs.methods
                            .insert((m.integration.name.clone(), m.name.name.clone()), r);
                    }
                }
                Item::Runbook(rb) => {
                    let key = format!("runbook {}", rb.name.name);
                    if let Some(first) = spans.get(&key) {
                        diags.push(duplicate("runbook", &rb.name, *first));
                    } else {
                        spans.insert(key, rb.name.span);
                        defs.runbooks.insert(rb.name.name.clone(), r);
                    }
                }
            }
        }
    }
    defs
}

pub(crate) fn duplicate(what: &str, name: &Ident, first: Span) -> Diagnostic {
    Diagnostic::error(
        codes::DUPLICATE_DEFINITION,
        format!("{what} `{}` is defined more than once", name.name),
    )
    .at(name.span, "defined again here")
    .also(first, "first defined here")
    .help(format!("rename one of them; a {what} name is defined once"))
}

/// The candidate closest to `name`, when it is close enough to be a typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let d = strsim::damerau_levenshtein(name, c);
        let limit = (name.chars().count().max(c.chars().count()) / 3).max(1);
        let lower_equal = name.eq_ignore_ascii_case(c);
        if d > limit && !lower_equal {
            continue;
        }
        let score = strsim::jaro_winkler(name, c) + if lower_equal { 1.0 } else { 0.0 };
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// "did you mean `x`?" help, or a list of what exists.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
    what: &str,
) -> String {
    match suggest(name, candidates.clone()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => {
            let mut all: Vec<&str> = candidates.into_iter().collect();
            all.sort();
            all.dedup();
            if all.is_empty() {
                format!("no {what} are defined")
            } else if all.len() <= 12 {
                format!(
                    "the {what} are: {}",
                    all.iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                format!("there are {} {what}; none is close to `{name}`", all.len())
            }
        }
    }
}
