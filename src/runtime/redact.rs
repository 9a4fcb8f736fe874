//! Masks secret text in everything rbk writes: progress, traces, errors,
//! reports, cassettes, dry runs and the REPL.
//!
//! Taint tracking on values decides what is secret; this registry is the
//! last line: every secret text that leaves a value (into a header, a URL,
//! a body) is registered, and every output passes through [`Redactor::mask`].
//!
//! A secret is found in any encoding it can take on the wire or in a file,
//! without listing those encodings: each character of the secret may stand
//! as itself, percent-encoded (any byte, upper- or lower-case hex, as every
//! path, query and form encoder writes it), `+` for a space, JSON-escaped
//! (`\"`, `\/`, `\u00e9`, surrogate pairs) or XML-escaped (`&amp;`,
//! `&#233;`, `&#xE9;`), and the forms may mix. So an encoder added later, or
//! a server that echoes a value back encoded its own way, cannot slip past.
//! Base64 is the one encoding that does not work character by character:
//! where rbk base64-encodes a secret itself (basic auth), it registers the
//! encoded text as a secret of its own.

use std::sync::RwLock;

use super::value::MASK;

/// Secrets shorter than this are not searched for in output text: masking
/// every `a` would garble everything. They are still masked as values.
pub const MIN_SECRET_LEN: usize = 3;

/// Bounds the backtracking of one match attempt (a secret made of `%`,
/// `&` or `\` can match several ways); past it the attempt counts as a match,
/// which masks too much rather than too little.
const MATCH_BUDGET: u32 = 10_000;

#[derive(Debug)]
struct Pattern {
    chars: Vec<char>,
    /// Bytes a match can start with.
    first: [bool; 256],
}

impl Pattern {
    fn new(secret: &str) -> Pattern {
        let chars: Vec<char> = secret.chars().collect();
        let mut first = [false; 256];
        if let Some(c) = chars.first() {
            let mut buf = [0u8; 4];
            first[c.encode_utf8(&mut buf).as_bytes()[0] as usize] = true;
            for b in [b'%', b'\\', b'&'] {
                first[b as usize] = true;
            }
            if *c == ' ' {
                first[b'+' as usize] = true;
            }
        }
        Pattern { chars, first }
    }

    /// The end of a match starting at byte `at`, if one does.
    fn match_at(&self, text: &[u8], at: usize) -> Option<usize> {
        let mut budget = MATCH_BUDGET;
        self.match_from(text, at, 0, &mut budget)
    }

    fn match_from(&self, text: &[u8], pos: usize, k: usize, budget: &mut u32) -> Option<usize> {
        let Some(&c) = self.chars.get(k) else {
            return Some(pos);
        };
        if *budget == 0 {
            return Some(pos);
        }
        *budget -= 1;
        let mut ends = [0usize; 4];
        let n = char_ends(text, pos, c, &mut ends);
        // The longest encoding first: `%25` is a whole `%`, not `%` and `25`.
        ends[..n].sort_unstable_by(|a, b| b.cmp(a));
        for &end in &ends[..n] {
            if let Some(e) = self.match_from(text, end, k + 1, budget) {
                return Some(e);
            }
        }
        None
    }
}

/// Where an encoding of `c` starting at `pos` ends (up to four ways).
fn char_ends(text: &[u8], pos: usize, c: char, out: &mut [usize; 4]) -> usize {
    let mut n = 0;
    let mut push = |e: usize| {
        if n < out.len() && !out[..n].contains(&e) {
            out[n] = e;
            n += 1;
        }
    };
    // Each UTF-8 byte as itself or as %HH; `%` itself both ways.
    let mut buf = [0u8; 4];
    let utf8 = c.encode_utf8(&mut buf).as_bytes();
    if c == '%' {
        if text.get(pos) == Some(&b'%') {
            push(pos + 1);
        }
        if let Some(e) = percent_byte(text, pos, b'%') {
            push(e);
        }
    } else {
        let mut p = pos;
        let mut ok = true;
        for &b in utf8 {
            if text.get(p) == Some(&b) {
                p += 1;
            } else if let Some(e) = percent_byte(text, p, b) {
                p = e;
            } else {
                ok = false;
                break;
            }
        }
        if ok {
            push(p);
        }
    }
    if c == ' ' && text.get(pos) == Some(&b'+') {
        push(pos + 1);
    }
    if text.get(pos) == Some(&b'\\')
        && let Some(e) = json_escape(text, pos, c)
    {
        push(e);
    }
    if text.get(pos) == Some(&b'&')
        && let Some(e) = xml_escape(text, pos, c)
    {
        push(e);
    }
    n
}

fn hex_val(b: u8) -> Option<u32> {
    (b as char).to_digit(16)
}

/// `%HH` (either case) encoding byte `b` at `pos`.
fn percent_byte(text: &[u8], pos: usize, b: u8) -> Option<usize> {
    if text.get(pos) != Some(&b'%') {
        return None;
    }
    let hi = hex_val(*text.get(pos + 1)?)?;
    let lo = hex_val(*text.get(pos + 2)?)?;
    (hi * 16 + lo == b as u32).then_some(pos + 3)
}

/// `\uXXXX` at `pos` (after the backslash check), its code unit.
fn json_unit(text: &[u8], pos: usize) -> Option<u32> {
    if text.get(pos) != Some(&b'\\') || text.get(pos + 1) != Some(&b'u') {
        return None;
    }
    let mut v = 0;
    for i in 0..4 {
        v = v * 16 + hex_val(*text.get(pos + 2 + i)?)?;
    }
    Some(v)
}

fn json_escape(text: &[u8], pos: usize, c: char) -> Option<usize> {
    let short = match c {
        '"' => Some(b'"'),
        '\\' => Some(b'\\'),
        '/' => Some(b'/'),
        '\u{8}' => Some(b'b'),
        '\u{c}' => Some(b'f'),
        '\n' => Some(b'n'),
        '\r' => Some(b'r'),
        '\t' => Some(b't'),
        _ => None,
    };
    if let Some(s) = short
        && text.get(pos + 1) == Some(&s)
    {
        return Some(pos + 2);
    }
    let mut units = [0u16; 2];
    let units = c.encode_utf16(&mut units);
    let mut p = pos;
    for u in units.iter() {
        if json_unit(text, p)? != *u as u32 {
            return None;
        }
        p += 6;
    }
    Some(p)
}

fn xml_escape(text: &[u8], pos: usize, c: char) -> Option<usize> {
    let rest = &text[pos..];
    let named: &[u8] = match c {
        '&' => b"&amp;",
        '<' => b"&lt;",
        '>' => b"&gt;",
        '"' => b"&quot;",
        '\'' => b"&apos;",
        _ => b"",
    };
    if !named.is_empty() && rest.starts_with(named) {
        return Some(pos + named.len());
    }
    if rest.get(1) != Some(&b'#') {
        return None;
    }
    let (radix, mut p) = match rest.get(2) {
        Some(b'x') | Some(b'X') => (16, 3),
        _ => (10, 2),
    };
    let start = p;
    let mut v: u32 = 0;
    while let Some(d) = rest.get(p).and_then(|b| (*b as char).to_digit(radix)) {
        v = v.checked_mul(radix)?.checked_add(d)?;
        p += 1;
    }
    (p > start && rest.get(p) == Some(&b';') && v == c as u32).then_some(pos + p + 1)
}

#[derive(Debug, Default)]
pub struct Redactor {
    secrets: RwLock<Vec<Pattern>>,
    /// Values read with `env()`: not masked, but like secrets they never
    /// follow a redirect (or an absolute URL) to another origin.
    sensitive: RwLock<Vec<Pattern>>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Registers a secret text; it is then masked in every encoding.
    pub fn register(&self, secret: &str) {
        add_pattern(&self.secrets, secret);
    }

    /// Registers a value that must not reach another origin (an `env()`
    /// value) without masking it.
    pub fn register_sensitive(&self, value: &str) {
        add_pattern(&self.sensitive, value);
    }

    /// `text` with every registered secret, in any encoding, replaced by `•••`.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for p in read(&self.secrets).iter() {
            if let Some(masked) = mask_one(&out, p) {
                out = masked;
            }
        }
        out
    }

    /// True when `text` holds a registered secret, in any encoding.
    pub fn contains_secret(&self, text: &str) -> bool {
        any_in(&self.secrets, text)
    }

    /// True when `text` holds a secret or a value read with `env()`.
    pub fn contains_sensitive(&self, text: &str) -> bool {
        any_in(&self.secrets, text) || any_in(&self.sensitive, text)
    }

    pub fn is_empty(&self) -> bool {
        read(&self.secrets).is_empty()
    }
}

/// The list, even after a thread panicked while holding its lock: the
/// patterns are still whole, and masking must never be skipped.
fn read(list: &RwLock<Vec<Pattern>>) -> std::sync::RwLockReadGuard<'_, Vec<Pattern>> {
    list.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn any_in(list: &RwLock<Vec<Pattern>>, text: &str) -> bool {
    read(list)
        .iter()
        .any(|p| find(text.as_bytes(), p).is_some())
}

fn add_pattern(list: &RwLock<Vec<Pattern>>, secret: &str) {
    if secret.chars().count() < MIN_SECRET_LEN {
        return;
    }
    let mut list = list
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let chars: Vec<char> = secret.chars().collect();
    if list.iter().any(|p| p.chars == chars) {
        return;
    }
    list.push(Pattern::new(secret));
    // Longest first, so that a secret containing another is masked whole.
    list.sort_by_key(|p| std::cmp::Reverse(p.chars.len()));
}

/// The first match of `p` in `text`: (start, end).
fn find(text: &[u8], p: &Pattern) -> Option<(usize, usize)> {
    (0..text.len())
        .filter(|&i| p.first[text[i] as usize])
        .find_map(|i| p.match_at(text, i).map(|e| (i, e)))
}

fn mask_one(text: &str, p: &Pattern) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if p.first[bytes[i] as usize]
            && let Some(end) = p.match_at(bytes, i)
            && end > i
            // Always so: a match begins at the first byte of a character or
            // at an ASCII escape, and ends after a whole character's encoding.
            && text.is_char_boundary(i)
            && text.is_char_boundary(end)
        {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..i]);
            o.push_str(MASK);
            copied = end;
            i = end;
        } else {
            i += 1;
        }
    }
    let mut o = out?;
    o.push_str(&text[copied..]);
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_registered_secret_and_its_encodings() {
        let r = Redactor::new();
        r.register("p@ss word");
        assert_eq!(r.mask("a p@ss word b"), "a ••• b");
        assert_eq!(r.mask("q=p%40ss%20word"), "q=•••");
        assert_eq!(r.mask("q=p%40ss+word"), "q=•••");
        assert_eq!(r.mask("q=p%40ss%20word&x"), "q=•••&x");
        assert_eq!(r.mask("q=%70%40%73%73%20%77%6f%72%64"), "q=•••");
        assert_eq!(r.mask("nothing here"), "nothing here");
    }

    #[test]
    fn masks_json_and_xml_escapes_and_non_ascii() {
        let r = Redactor::new();
        r.register("a\"b/c<é>😀");
        assert_eq!(
            r.mask(r#"{"k":"a\"b\/c<\u00e9>\ud83d\ude00"}"#),
            r#"{"k":"•••"}"#
        );
        assert_eq!(
            r.mask("<k>a&quot;b/c&lt;&#233;&gt;&#x1F600;</k>"),
            "<k>•••</k>"
        );
        assert_eq!(
            r.mask("a%22b%2Fc%3C%C3%A9%3e%F0%9F%98%80!"),
            "•••!",
            "percent-encoded UTF-8, mixed case"
        );
    }

    #[test]
    fn percent_signs_and_ampersands_in_secrets() {
        let r = Redactor::new();
        r.register("%41&amp;%");
        assert_eq!(r.mask("x %41&amp;% y"), "x ••• y");
        assert_eq!(r.mask("x %2541%26amp%3B%25 y"), "x ••• y");
        assert_eq!(r.mask("x &#37;41&amp;amp;% y"), "x ••• y");
        assert_eq!(r.mask("x A&amp;% y"), "x A&amp;% y");
    }

    #[test]
    fn short_secrets_are_not_searched() {
        let r = Redactor::new();
        r.register("ab");
        assert_eq!(r.mask("abc"), "abc");
        assert!(r.is_empty());
    }

    use proptest::prelude::*;

    /// Printable ASCII with some non-ASCII (two-, three- and four-byte UTF-8).
    fn secret_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                8 => (0x20u8..0x7f).prop_map(|b| b as char),
                1 => prop::sample::select(vec!['é', 'ß', 'ü', '日', '€', '😀', '\u{2028}']),
            ],
            MIN_SECRET_LEN..24,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    /// How servers and other tools write a value back: lower-case hex, every
    /// byte encoded, JSON with only ASCII (Python's default), numeric XML
    /// references.
    fn foreign_encodings(s: &str) -> Vec<String> {
        let upper = percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
        let mut lower_hex = String::new();
        let mut chars = upper.chars();
        while let Some(c) = chars.next() {
            lower_hex.push(c);
            if c == '%' {
                lower_hex.extend(chars.by_ref().take(2).map(|h| h.to_ascii_lowercase()));
            }
        }
        let every_byte: String = s.bytes().map(|b| format!("%{b:02X}")).collect();
        let ascii_json: String = s
            .encode_utf16()
            .map(|u| match u {
                0x20..=0x7e if u != 0x22 && u != 0x5c => (u as u8 as char).to_string(),
                _ => format!("\\u{u:04x}"),
            })
            .collect();
        let numeric_xml: String = s.chars().map(|c| format!("&#{};", c as u32)).collect();
        vec![upper, lower_hex, every_byte, ascii_json, numeric_xml]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

        /// A registered secret is masked in every encoding rbk writes it in
        /// (taken from the request encoders themselves) and in the ways
        /// servers echo it back, wherever it stands in other text.
        #[test]
        fn secrets_are_masked_in_every_encoding(
            secret in secret_text(),
            before in "[ -~]{0,12}",
            after in "[ -~]{0,12}",
        ) {
            let r = Redactor::new();
            r.register(&secret);
            let mut forms: Vec<String> = crate::runtime::http::wire_encodings(&secret)
                .into_iter()
                .map(|(_, f)| f)
                .collect();
            forms.extend(foreign_encodings(&secret));
            for form in forms {
                let text = format!("{before}{form}{after}");
                let masked = r.mask(&text);
                prop_assert!(!masked.contains(&form), "`{form}` survives in {masked:?}");
                prop_assert!(masked.contains(MASK), "nothing masked in {masked:?}");
                prop_assert!(r.contains_secret(&text));
            }
        }
    }

    #[test]
    fn sensitive_values_are_found_but_not_masked() {
        let r = Redactor::new();
        r.register_sensitive("from-env");
        assert!(r.contains_sensitive("x-from%2Denv"));
        assert!(!r.contains_secret("from-env"));
        assert_eq!(r.mask("from-env"), "from-env");
    }
}
