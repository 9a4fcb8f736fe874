//! XML: `xml_namespaces` blocks, `xpath("...")` outputs (compiled here by
//! the same crate the run uses, prefixes checked against the declared
//! ones) and `{raw(x)}` in `body xml` strings.

use super::Cx;
use super::expr::{Ctx, Scope};
use super::types::{T, Ty};
use crate::diagnostic::{Diagnostic, codes};
use crate::runtime::xml::{add_namespaces, compile, prefixes, raw_argument, valid_prefix};
use crate::syntax::ast::*;

impl Cx<'_> {
    /// Checks a `xml_namespaces { p = "uri" }` block's prefixes and values.
    pub(crate) fn check_xml_namespaces(&mut self, e: &Entry) {
        let EntryValue::Block { block, .. } = &e.value else {
            return; // reported as "is a block"
        };
        for en in &block.entries {
            let name = en.key.name.as_str();
            if !valid_prefix(name) || name == "xml" || name == "xmlns" {
                self.report(
                    Diagnostic::error(
                        codes::INVALID_SETTING,
                        format!("`{name}` cannot be a namespace prefix"),
                    )
                    .at(en.key.span, "not a usable prefix")
                    .help("a prefix is a name such as `soap` or `t`; `xml` is always declared and `xmlns` is reserved"),
                );
            }
            if let EntryValue::Expr { value, .. } = &en.value {
                let plain = match &value.kind {
                    ExprKind::Str(s) => s.as_plain(),
                    _ => None,
                };
                match plain {
                    Some(uri) if !uri.is_empty() => {}
                    _ => self.report(
                        Diagnostic::error(
                            codes::INVALID_SETTING,
                            format!("the namespace of prefix `{name}` must be a plain string"),
                        )
                        .at(value.span, "expected a non-empty string without `{...}`")
                        .help(format!(
                            "write the namespace URI as the document declares it: `{name} = \"http://schemas.xmlsoap.org/soap/envelope/\"`"
                        )),
                    ),
                }
            }
        }
    }

    /// Before a method's items: the prefixes its `xpath` outputs may use
    /// (the integration's and its own), and its own block checked.
    pub(crate) fn enter_method_xml(&mut self, m: &Method) {
        let mut declared = Vec::new();
        if let Some(integ) = self.program.integration(&m.integration.name)
            && let Some(e) = integ.body.get("xml_namespaces")
        {
            add_namespaces(&mut declared, e);
        }
        for item in &m.items {
            if let MethodItem::Entry(e) = item
                && e.key.name == "xml_namespaces"
            {
                self.check_xml_namespaces(e);
                add_namespaces(&mut declared, e);
            }
        }
        self.xml_prefixes = declared.into_iter().map(|(p, _)| p).collect();
    }

    /// `xpath("...")`: only in outputs, a plain string, valid XPath 1.0,
    /// every prefix declared.
    pub(crate) fn check_xpath(&mut self, call: &CallExpr, span: Span, scope: &Scope) {
        if scope.ctx != Ctx::Output {
            self.report(
                Diagnostic::error(
                    codes::MISPLACED_RESPONSE_VALUE,
                    "`xpath(...)` is only available in a method's `output` block",
                )
                .at(span, "not inside `output { ... }`")
                .help("declare an output such as `id: int = xpath(\"/ticket/id\")` and read it as `step_name.id`"),
            );
            return;
        }
        let Some(arg) = call.args.first() else {
            return; // arity is reported by the caller
        };
        let query = match &arg.value.kind {
            ExprKind::Str(s) => s.as_plain(),
            _ => None,
        };
        let Some(query) = query else {
            self.report(
                Diagnostic::error(
                    codes::INVALID_XPATH,
                    "`xpath` takes the expression as a plain string",
                )
                .at(arg.value.span, "not a string literal without `{...}`")
                .help("write the expression itself, e.g. `xpath(\"/s:Envelope/s:Body/t:ticket/t:id\")`; it is checked before the run"),
            );
            return;
        };
        if let Err(e) = compile(&query) {
            self.report(
                Diagnostic::error(
                    codes::INVALID_XPATH,
                    format!("`{query}` is not a valid XPath 1.0 expression"),
                )
                .at(arg.value.span, e)
                .help("XPath 1.0, e.g. `/ticket/id`, `//t:item/@id`, `count(//t:item)`, `string(/a/b)`"),
            );
            return;
        }
        for p in prefixes(&query) {
            if p != "xml" && !self.xml_prefixes.contains(&p) {
                let declared = if self.xml_prefixes.is_empty() {
                    "no prefix is declared".to_string()
                } else {
                    format!("declared: {}", self.xml_prefixes.join(", "))
                };
                self.report(
                    Diagnostic::error(
                        codes::INVALID_XPATH,
                        format!("the XPath prefix `{p}` is not declared"),
                    )
                    .at(arg.value.span, format!("`{p}:` used here; {declared}"))
                    .help(format!(
                        "declare it in the integration or the method: `xml_namespaces {{ {p} = \"urn:...\" }}` with the namespace URI the document uses (its own prefix does not matter)"
                    )),
                );
            }
        }
    }

    /// `raw(x)` outside a `body xml` interpolation.
    pub(crate) fn check_raw(&mut self, span: Span) {
        if !self.raw_allowed {
            self.report(
                Diagnostic::error(
                    codes::MISPLACED_RAW,
                    "`raw(...)` only inserts a value unescaped into a `body xml` string",
                )
                .at(span, "not a `{raw(x)}` of a `body xml \"...\"`")
                .help("write `body xml \"<a>{raw(fragment)}</a>\"`; everywhere else a value is used as it is"),
            );
        }
    }

    /// A `body xml` value: each `{raw(x)}` interpolation of a string
    /// literal may use `raw`.
    pub(crate) fn xml_body(&mut self, value: &Expr, scope: &Scope) -> T {
        let ExprKind::Str(s) = &value.kind else {
            return self.expr(value, scope);
        };
        let mut secret = false;
        for part in &s.parts {
            if let StrPart::Interp(e) = part {
                self.raw_allowed = raw_argument(e).is_some();
                secret |= self.expr(e, scope).secret;
                self.raw_allowed = false;
            }
        }
        T::secret(Ty::Str, secret)
    }
}
