//! Positions: LSP counts columns in UTF-16 code units, rbk spans in bytes.
//! Every conversion between the two is here.

use lsp_types::{Position, Range, TextDocumentContentChangeEvent};

/// The byte offset where each line starts, for one text.
pub struct LineIndex<'t> {
    text: &'t str,
    starts: std::borrow::Cow<'t, [usize]>,
}

/// Where each line of `text` starts.
pub fn line_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(
        text.bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i + 1),
    );
    starts
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> LineIndex<'t> {
        LineIndex {
            text,
            starts: std::borrow::Cow::Owned(line_starts(text)),
        }
    }

    /// An index over line starts computed before (by [`line_starts`]).
    pub fn with_starts(text: &'t str, starts: &'t [usize]) -> LineIndex<'t> {
        LineIndex {
            text,
            starts: std::borrow::Cow::Borrowed(starts),
        }
    }

    /// The LSP position of a byte offset (clamped to the text, and moved
    /// back to a character boundary).
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.starts[line];
        let character = self.text[start..offset].encode_utf16().count();
        Position::new(line as u32, character as u32)
    }

    pub fn range(&self, start: usize, end: usize) -> Range {
        Range::new(self.position(start), self.position(end))
    }

    /// The byte offset of an LSP position. A line past the end gives the
    /// end of the text; a column past the end of its line gives the end of
    /// the line; a column inside a surrogate pair gives the character's start.
    pub fn offset(&self, pos: Position) -> usize {
        let Some(&start) = self.starts.get(pos.line as usize) else {
            return self.text.len();
        };
        let end = self
            .starts
            .get(pos.line as usize + 1)
            .map(|e| e - 1)
            .unwrap_or(self.text.len());
        let line = &self.text[start..end];
        let mut units = 0u32;
        for (i, c) in line.char_indices() {
            if units >= pos.character {
                return start + i;
            }
            units += c.len_utf16() as u32;
            if units > pos.character {
                return start + i;
            }
        }
        end
    }
}

/// Applies one change from `didChange` to `text`.
pub fn apply_change(text: &mut String, change: &TextDocumentContentChangeEvent) {
    match change.range {
        None => *text = change.text.clone(),
        Some(range) => {
            let (start, end) = {
                let index = LineIndex::new(text);
                (index.offset(range.start), index.offset(range.end))
            };
            let (start, end) = (start.min(end), start.max(end));
            text.replace_range(start..end, &change.text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_round_trip() {
        // é is 2 bytes and 1 UTF-16 unit; 😀 is 4 bytes and 2 units.
        let text = "let é = \"😀x\"\nnext";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap_or(0);
        let pos = index.position(x);
        assert_eq!(pos, Position::new(0, 11));
        assert_eq!(index.offset(pos), x);
        // Inside the surrogate pair: the character's start.
        let smile = text.find('😀').unwrap_or(0);
        assert_eq!(index.offset(Position::new(0, 10)), smile);
        assert_eq!(index.position(text.len()), Position::new(1, 4));
        assert_eq!(index.offset(Position::new(9, 0)), text.len());
        assert_eq!(
            index.offset(Position::new(0, 99)),
            text.find('\n').unwrap_or(0)
        );
    }

    #[test]
    fn incremental_changes_apply_in_order() {
        let mut text = "step a = gh.get()\n".to_string();
        let change = TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(0, 5), Position::new(0, 6))),
            range_length: None,
            text: "ünïcode".to_string(),
        };
        apply_change(&mut text, &change);
        assert_eq!(text, "step ünïcode = gh.get()\n");
        let change = TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(0, 12), Position::new(0, 12))),
            range_length: None,
            text: "2".to_string(),
        };
        apply_change(&mut text, &change);
        assert_eq!(text, "step ünïcode2 = gh.get()\n");
    }
}
