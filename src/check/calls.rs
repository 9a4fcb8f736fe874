//! Calls in runbooks: a step's method or runbook resolved, its arguments
//! checked against the parameters, and the result's type.

use super::Cx;
use super::expr::Scope;
use super::flow::*;
use super::methods::{method_outputs, secret_outputs};
use super::resolve::did_you_mean;
use super::types::{StepTy, Ty, assignable, resolve_type};
use crate::diagnostic::{Diagnostic, codes};
use crate::syntax::ast::*;
use std::collections::HashMap;
use std::rc::Rc;

impl<'p> Cx<'p> {
    /// Resolves a call and checks its arguments; the result type is open
    /// (anything goes) when the target is unknown.
    pub(super) fn call(&mut self, call: &Call, step: &Ident, scope: &Scope) -> Rc<StepTy> {
        let unknown = |target: String| {
            Rc::new(StepTy {
                step: step.name.clone(),
                target,
                outputs: Vec::new(),
                secrets: Vec::new(),
                succeeded: true,
                open: true,
                unset_by: None,
            })
        };
        match &call.target {
            CallTarget::Method {
                integration,
                method,
            } => {
                let target = format!("{}.{}", integration.name, method.name);
                let Some(m) = self.resolve_method(integration, method) else {
                    self.args_only(&call.args, scope);
                    return unknown(target);
                };
                self.check_args(&m.params, &call.args, call.span, &target, scope);
                Rc::new(StepTy {
                    step: step.name.clone(),
                    target,
                    outputs: method_outputs(m),
                    secrets: secret_outputs(m),
                    succeeded: true,
                    open: false,
                    unset_by: None,
                })
            }
            CallTarget::Runbook(name) => {
                let target = format!("run {}", name.name);
                let program = self.program;
                let Some(rb) = program.runbook(&name.name) else {
                    let help = did_you_mean(
                        &name.name,
                        program.runbooks.keys().map(String::as_str),
                        "runbook",
                    );
                    self.report(
                        Diagnostic::error(
                            codes::UNKNOWN_RUNBOOK,
                            format!("there is no runbook `{}`", name.name),
                        )
                        .at(name.span, "unknown runbook")
                        .help(help),
                    );
                    self.args_only(&call.args, scope);
                    return unknown(target);
                };
                self.check_args(&rb.params, &call.args, call.span, &target, scope);
                let (keys, open) = runbook_result(rb);
                Rc::new(StepTy {
                    step: step.name.clone(),
                    target,
                    outputs: keys.into_iter().map(|k| (k, Ty::Json)).collect(),
                    secrets: Vec::new(),
                    succeeded: true,
                    open,
                    unset_by: None,
                })
            }
        }
    }

    pub(super) fn args_only(&mut self, args: &[Arg], scope: &Scope) {
        for a in args {
            self.expr(&a.value, scope);
        }
    }

    pub(crate) fn resolve_method(
        &mut self,
        integration: &Ident,
        method: &Ident,
    ) -> Option<&'p Method> {
        let program = self.program;
        if !program.integrations.contains_key(&integration.name) {
            let help = did_you_mean(
                &integration.name,
                program.integrations.keys().map(String::as_str),
                "integration",
            );
            self.report(
                Diagnostic::error(
                    codes::UNKNOWN_INTEGRATION,
                    format!("there is no integration `{}`", integration.name),
                )
                .at(integration.span, "unknown integration")
                .help(help),
            );
            return None;
        }
        match program.method(&integration.name, &method.name) {
            Some(m) => Some(m),
            None => {
                let names: Vec<&str> = program
                    .methods
                    .keys()
                    .filter(|(i, _)| *i == integration.name)
                    .map(|(_, m)| m.as_str())
                    .collect();
                let help = did_you_mean(&method.name, names.iter().copied(), "methods");
                self.report(
                    Diagnostic::error(
                        codes::UNKNOWN_METHOD,
                        format!(
                            "integration `{}` has no method `{}`",
                            integration.name, method.name
                        ),
                    )
                    .at(method.span, "unknown method")
                    .help(help),
                );
                None
            }
        }
    }

    /// Arguments against parameters: positional first, then named; every
    /// required parameter given, none unknown or repeated, types fitting.
    pub(crate) fn check_args(
        &mut self,
        params: &[Param],
        args: &[Arg],
        call_span: Span,
        target: &str,
        scope: &Scope,
    ) {
        let mut given: HashMap<&str, Span> = HashMap::new();
        let mut seen_named = false;
        for (i, a) in args.iter().enumerate() {
            let param = match &a.name {
                None => {
                    if seen_named {
                        self.report(
                            Diagnostic::error(
                                codes::UNKNOWN_ARGUMENT,
                                "a positional argument cannot follow a named one",
                            )
                            .at(a.span, "positional argument")
                            .help("name it: `param: value`"),
                        );
                        self.expr(&a.value, scope);
                        continue;
                    }
                    match params.get(i) {
                        Some(p) => p,
                        None => {
                            self.report(
                                Diagnostic::error(
                                    codes::UNKNOWN_ARGUMENT,
                                    format!(
                                        "`{target}` takes {} parameter{}, but more arguments were given",
                                        params.len(),
                                        if params.len() == 1 { "" } else { "s" }
                                    ),
                                )
                                .at(a.span, "extra argument")
                                .help(signature(target, params)),
                            );
                            self.expr(&a.value, scope);
                            continue;
                        }
                    }
                }
                Some(n) => {
                    seen_named = true;
                    match params.iter().find(|p| p.name.name == n.name) {
                        Some(p) => p,
                        None => {
                            let help = did_you_mean(
                                &n.name,
                                params.iter().map(|p| p.name.name.as_str()),
                                "parameters",
                            );
                            self.report(
                                Diagnostic::error(
                                    codes::UNKNOWN_ARGUMENT,
                                    format!("`{target}` has no parameter `{}`", n.name),
                                )
                                .at(n.span, "unknown parameter")
                                .also(call_span, signature(target, params))
                                .help(help),
                            );
                            self.expr(&a.value, scope);
                            continue;
                        }
                    }
                }
            };
            if let Some(first) = given.insert(&param.name.name, a.span) {
                self.report(
                    Diagnostic::error(
                        codes::DUPLICATE_ARGUMENT,
                        format!("`{}` is passed twice", param.name.name),
                    )
                    .at(a.span, "passed again here")
                    .also(first, "first passed here")
                    .help("pass each parameter once"),
                );
            }
            let t = self.expr(&a.value, scope);
            if let Ok(pt) = resolve_type(&param.ty)
                && pt.secret
                && !t.secret
                && !t.ty.is_dynamic()
            {
                self.not_secret(a.value.span, &param.name.name, param.span);
            }
            if let Ok(pt) = resolve_type(&param.ty)
                && !assignable(&t.ty, &pt.ty)
            {
                self.report(
                    Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        format!(
                            "`{}` of `{target}` takes {}, found {t}",
                            param.name.name,
                            super::expr::article(&pt.to_string())
                        ),
                    )
                    .at(
                        a.value.span,
                        format!("this is {}", super::expr::article(&t.to_string())),
                    )
                    .also(param.span, "parameter declared here")
                    .help(match (&pt.ty, &t.ty) {
                        (Ty::Str, _) => {
                            "convert with `string(x)` or interpolate: `\"{x}\"`".to_string()
                        }
                        (Ty::Int, Ty::Str) => "convert with `int(x)`".to_string(),
                        (_, Ty::Optional(_)) => {
                            "the value may be null; give a default: `x ?? fallback`".to_string()
                        }
                        _ => signature(target, params),
                    }),
                );
            }
        }
        let missing: Vec<&Param> = params
            .iter()
            .filter(|p| {
                p.default.is_none()
                    && !matches!(p.ty, TypeExpr::Optional(..))
                    && !given.contains_key(p.name.name.as_str())
            })
            .collect();
        if !missing.is_empty() {
            let names: Vec<String> = missing
                .iter()
                .map(|p| format!("`{}`", p.name.name))
                .collect();
            let example: Vec<String> = missing
                .iter()
                .map(|p| format!("{}: ...", p.name.name))
                .collect();
            let mut d = Diagnostic::error(
                codes::MISSING_ARGUMENT,
                format!(
                    "`{target}` needs {} {}",
                    if missing.len() == 1 {
                        "the argument"
                    } else {
                        "the arguments"
                    },
                    names.join(", ")
                ),
            )
            .at(call_span, format!("missing {}", names.join(", ")))
            .help(format!("pass `{}`", example.join(", ")));
            for p in &missing {
                d = d.also(p.span, "declared here");
            }
            self.report(d);
        }
    }
}

pub(super) fn signature(target: &str, params: &[Param]) -> String {
    let ps: Vec<String> = params
        .iter()
        .map(|p| {
            let ty = p.ty.to_string();
            if p.default.is_some() {
                format!("{}: {ty} = …", p.name.name)
            } else {
                format!("{}: {ty}", p.name.name)
            }
        })
        .collect();
    format!("{target}({})", ps.join(", "))
}
