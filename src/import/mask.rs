//! Credentials blanked out of an imported document before a diagnostic
//! shows its lines.
//!
//! A Postman collection or an OpenAPI document may hold tokens, passwords
//! and keys, and a diagnostic about it prints the lines around the error
//! (which may be the whole file when it is minified). [`masked`] replaces
//! every byte of such values with `*`, so the text keeps its length and
//! every span still points where it did. It works on text that does not
//! parse (the usual reason for a diagnostic): it reads `"name": "value"`
//! pairs anywhere and `name: value` at the start of YAML lines, and masks
//! the value when the name looks like a credential, or when it is a
//! Postman `"value"` whose sibling `"key"` names one (`{"key": "token",
//! "value": "..."}`). It masks more than it must rather than less.

use crate::syntax::span::SourceMap;

/// The same files, credentials masked (see the module documentation).
pub fn masked(sources: &SourceMap) -> SourceMap {
    let mut out = SourceMap::new();
    for (_, file) in sources.files() {
        out.add(file.path.clone(), mask_text(&file.text));
    }
    out
}

/// Whether a field or variable of this name holds a credential.
fn secret_name(name: &str) -> bool {
    // `key` alone is Postman's name for the name of a pair, not a key.
    !name.eq_ignore_ascii_case("key") && super::postman::is_secret_name(name)
}

/// `text` with the values of credential-like fields replaced by `*`.
fn mask_text(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    mask_json_pairs(text.as_bytes(), &mut bytes);
    mask_yaml_lines(text, &mut bytes);
    // Stars replace whole values (between ASCII quotes, or a whole YAML
    // scalar), never part of a character, so this cannot fail; were it
    // to, all stars.
    String::from_utf8(bytes).unwrap_or_else(|e| "*".repeat(e.as_bytes().len()))
}

/// The JSON string starting at `start` (a `"`): its content, and where
/// the text goes on after it. Backslash escapes are honoured; a string not
/// closed on its line ends there.
fn string_at(text: &[u8], start: usize) -> (std::ops::Range<usize>, usize) {
    let mut i = start + 1;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return (start + 1..i, i + 1),
            b'\n' => return (start + 1..i, i),
            _ => i += 1,
        }
    }
    (start + 1..text.len(), text.len())
}

fn skip_blanks(text: &[u8], mut i: usize) -> usize {
    while i < text.len() && matches!(text[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

fn star(out: &mut [u8], range: std::ops::Range<usize>) {
    for b in &mut out[range] {
        *b = b'*';
    }
}

/// `"name": "value"` pairs, wherever they are.
fn mask_json_pairs(text: &[u8], out: &mut [u8]) {
    // Set by `"key": "<credential name>"` until its object closes.
    let mut pair_is_secret = false;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'{' | b'}' => {
                pair_is_secret = false;
                i += 1;
            }
            b'"' => {
                let (name, end) = string_at(text, i);
                let name = String::from_utf8_lossy(&text[name]);
                let after = skip_blanks(text, end);
                if after >= text.len() || text[after] != b':' {
                    i = end;
                    continue;
                }
                let value_start = skip_blanks(text, after + 1);
                if value_start >= text.len() || text[value_start] != b'"' {
                    i = value_start;
                    continue;
                }
                let (value, value_end) = string_at(text, value_start);
                if name.eq_ignore_ascii_case("key") {
                    pair_is_secret = secret_name(&String::from_utf8_lossy(&text[value]));
                } else if secret_name(&name) || (name == "value" && pair_is_secret) {
                    star(out, value);
                }
                i = value_end;
            }
            _ => i += 1,
        }
    }
}

/// `name: value` at the start of a YAML line (after indentation and `- `).
fn mask_yaml_lines(text: &str, out: &mut [u8]) {
    let mut pair_is_secret = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start_matches([' ', '-']).len();
        let rest = &body[indent..];
        if let Some(colon) = rest.find(": ") {
            let name = &rest[..colon];
            let unquoted = !name.starts_with('"') && !name.contains(char::is_whitespace);
            let value = rest[colon + 2..].trim();
            if unquoted && !value.is_empty() && !value.starts_with('"') {
                let start = offset
                    + indent
                    + colon
                    + 2
                    + (rest[colon + 2..].len() - rest[colon + 2..].trim_start().len());
                if name.eq_ignore_ascii_case("key") {
                    pair_is_secret = secret_name(value);
                } else if secret_name(name) || (name == "value" && pair_is_secret) {
                    star(out, start..start + value.len());
                }
            }
        }
        offset += line.len();
    }
}

#[cfg(test)]
mod tests {
    use super::mask_text;

    #[test]
    fn credential_values_are_masked_and_lengths_kept() {
        let cases = [
            (
                r#"{"auth":{"bearer":[{"key":"token","value":"s3cr3t-token","type":"string"}]}}"#,
                "s3cr3t-token",
            ),
            (r#"  "password": "hunter2hunter2","#, "hunter2hunter2"),
            (r#"{"key": "apiKey", "value": "k-123456"}"#, "k-123456"),
            (
                r#"{"key":"Authorization","value":"Bearer abc.def.ghi"}"#,
                "Bearer abc.def.ghi",
            ),
            ("info:\n  x-api-key: plain-yaml-key\n", "plain-yaml-key"),
            (
                "- key: token\n  value: yaml-pair-value\n",
                "yaml-pair-value",
            ),
            (r#"{"client_secret": "esc\"aped\\\"x"}"#, "aped"),
        ];
        for (text, secret) in cases {
            let masked = mask_text(text);
            assert_eq!(masked.len(), text.len(), "{text}");
            assert!(!masked.contains(secret), "{secret} shown in {masked}");
            assert!(masked.contains("***"), "{masked}");
        }
    }

    #[test]
    fn other_values_stay() {
        let text =
            r#"{"key": "page", "value": "2", "name": "List items", "url": "https://x/items"}"#;
        assert_eq!(mask_text(text), text);
        let yaml = "openapi: 3.0.0\ninfo:\n  title: Items API\n";
        assert_eq!(mask_text(yaml), yaml);
    }

    #[test]
    fn broken_text_does_not_panic() {
        for text in [
            "\"",
            "\"a\":",
            "\"a\": \"",
            "{\"token\": \"x",
            "key:",
            "- : x",
            "é\"token\":\"é",
        ] {
            let masked = mask_text(text);
            assert_eq!(masked.len(), text.len());
        }
    }
}
