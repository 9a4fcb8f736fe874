//! Text that came from outside (response bodies and headers, server error
//! text, values logged from responses) made safe to print on a terminal or
//! in a CI log.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `s` with every control character written visibly: `\n`, `\r`, `\t`,
/// `\x1b`, `\u{85}`, and the Unicode bidirectional overrides as `\u{202e}`.
/// Printed after a prefix of rbk's own, no line can then begin a GitHub
/// Actions workflow command (`::error ...`), move the cursor, retitle the
/// terminal or reorder what the reader sees.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !needs_escape(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// The lines of a multi-line text (a body shown by `-vv`), each made
/// printable; a CR before a line break is dropped.
pub fn printable_lines(s: &str) -> impl Iterator<Item = Cow<'_, str>> {
    s.split('\n')
        .map(|l| printable(l.strip_suffix('\r').unwrap_or(l)))
}

/// `s` escaped for XML text and attribute values; characters XML 1.0
/// cannot hold at all (most C0 controls, U+FFFE, U+FFFF) are dropped.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// `s` with the characters a terminal would obey replaced by `?`, one
/// `?` per byte, so that byte offsets into it (diagnostic spans) still hold:
/// for showing program text that may be hostile. Line breaks and tabs stay.
pub fn same_length_printable(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\t' => c.to_string(),
            '\r' => " ".to_string(),
            c if needs_escape(c) => "?".repeat(c.len_utf8()),
            c => c.to_string(),
        })
        .collect()
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        || c == '\u{2028}'
        || c == '\u{2029}'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(printable("plain text"), "plain text");
        assert_eq!(
            printable("a\r\n::error title=x::pwned\x1b]0;t\x07"),
            "a\\r\\n::error title=x::pwned\\x1b]0;t\\x07"
        );
        assert_eq!(printable("\u{202e}abc\u{85}"), "\\u{202e}abc\\u{85}");
        let lines: Vec<_> = printable_lines("a\r\nb\x1b[2J").collect();
        assert_eq!(lines, ["a", "b\\x1b[2J"]);
    }
}
