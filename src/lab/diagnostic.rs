//! Located errors in lab definitions: file, line, column, field, message and a suggested fix.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub field: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.field,
            self.message
        )?;
        if let Some(s) = self.snippet() {
            write!(f, "\n{s}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl Diagnostic {
    /// The offending source line with a caret under the value, the way cargo shows it
    /// (annotate-snippets); `None` for errors about a whole file.
    pub fn snippet(&self) -> Option<String> {
        if self.line == 0 {
            return None;
        }
        let bytes =
            super::confine::read_regular(&self.file, super::confine::MAX_LAB_TOML_BYTES).ok()?;
        let text = String::from_utf8_lossy(&bytes);
        let starts = line_starts(&text);
        let start = *starts.get(self.line - 1)?;
        let end = starts.get(self.line).copied().unwrap_or(text.len());
        let line = text.get(start..end)?.trim_end_matches(['\n', '\r']);
        // Long lines are cut around the value, so that a 75 KB line shows as one screen line.
        let col = (self.column.max(1) - 1).min(line.len());
        let from = floor_char(line, col.saturating_sub(60));
        let to = floor_char(line, (col + 100).min(line.len()));
        let shown = line.get(from..to)?;
        let at = col - from;
        let len = value_len(&shown[at..]).max(1);
        let title = self.field.chars().take(100).collect::<String>();
        let origin = self.file.to_string_lossy();
        let message = annotate_snippets::Level::Error.title(&title).snippet(
            annotate_snippets::Snippet::source(shown)
                .line_start(self.line)
                .origin(&origin)
                .annotation(
                    annotate_snippets::Level::Error
                        .span(at..(at + len).min(shown.len()))
                        .label(&title),
                ),
        );
        let rendered = annotate_snippets::Renderer::plain()
            .render(message)
            .to_string();
        // The first line repeats the title; the location line above already says it.
        Some(
            rendered
                .lines()
                .skip(1)
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }
}

/// `s` cut to about `max` bytes (a hostile name can be 75 KB long).
fn shorten(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let cut = floor_char(&s, max);
    format!("{}…", &s[..cut])
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The length of the value starting `s`: a quoted string to its closing quote, else a word.
fn value_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, q @ ('"' | '\''))) => {
            let mut escaped = false;
            for (i, c) in chars {
                if q == '"' && c == '\\' && !escaped {
                    escaped = true;
                    continue;
                }
                if c == q && !escaped {
                    return i + c.len_utf8();
                }
                escaped = false;
            }
            s.len()
        }
        Some(_) => s
            .char_indices()
            .find(|(_, c)| c.is_whitespace() || matches!(c, ',' | '}' | ']'))
            .map(|(i, _)| i)
            .unwrap_or(s.len()),
        None => 0,
    }
}

/// Turns byte offsets of one source file into line and column numbers.
#[derive(Debug, Clone)]
pub struct SourceMap {
    pub file: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceMap {
    pub fn new(file: &Path, text: &str) -> Self {
        SourceMap {
            file: file.to_path_buf(),
            text: text.to_string(),
            line_starts: line_starts(text),
        }
    }

    /// The byte offset of `key`'s value (`key = value`) inside `within`, else `within` itself:
    /// locates fields the model keeps without a span.
    pub fn key_at(&self, within: std::ops::Range<usize>, key: &str) -> std::ops::Range<usize> {
        let end = within.end.min(self.text.len());
        let start = within.start.min(end);
        let Some(region) = self.text.get(start..end) else {
            return within;
        };
        if key.is_empty() {
            return within;
        }
        let mut from = 0;
        while let Some(i) = region[from..].find(key) {
            let at = from + i;
            from = at + key.len();
            let before_ok = region[..at]
                .chars()
                .next_back()
                .is_none_or(|c| c.is_whitespace() || c == '{' || c == ',');
            let rest = region[from..].trim_start_matches([' ', '\t']);
            if before_ok && rest.starts_with('=') {
                let value = rest[1..].trim_start_matches([' ', '\t']);
                let off = start + region.len() - value.len();
                return off..off;
            }
        }
        within
    }

    /// 1-based line and column of a byte offset.
    pub fn locate(&self, offset: usize) -> (usize, usize) {
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        (line + 1, offset.saturating_sub(self.line_starts[line]) + 1)
    }

    pub fn at(
        &self,
        span: std::ops::Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Diagnostic {
        let (line, column) = self.locate(span.start);
        Diagnostic {
            file: self.file.clone(),
            line,
            column,
            field: shorten(field.into(), 200),
            message: shorten(message.into(), 600),
            hint: None,
        }
    }
}

/// Where lines start: after LF, CRLF, and a CR alone (old Mac line endings).
pub fn line_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut out = vec![0];
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'\n' => out.push(i + 1),
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => out.push(i + 1),
            _ => {}
        }
    }
    out
}

pub trait WithHint {
    fn hint(self, hint: impl Into<String>) -> Self;
}

impl WithHint for Diagnostic {
    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Words longer than this get no suggestion (edit distance is quadratic in the lengths).
const MAX_SUGGESTED: usize = 64;

/// The closest candidate by edit distance, to suggest in "did you mean" hints. Linear in the
/// number of candidates: long words and candidates whose length alone rules them out are
/// skipped before any distance is computed.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if word.len() > MAX_SUGGESTED {
        return None;
    }
    candidates
        .into_iter()
        .filter(|c| c.len() <= MAX_SUGGESTED)
        .filter_map(|c| {
            let limit = (c.len().max(word.len()) / 3).max(2);
            if c.len().abs_diff(word.len()) > limit {
                return None;
            }
            let d = strsim::levenshtein(word, c);
            (d <= limit).then_some((d, c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_lines_and_columns() {
        let m = SourceMap::new(Path::new("x"), "ab\ncd\n\nef");
        assert_eq!(m.locate(0), (1, 1));
        assert_eq!(m.locate(4), (2, 2));
        assert_eq!(m.locate(7), (4, 1));
        let cr = SourceMap::new(Path::new("x"), "ab\rcd\r\nef");
        assert_eq!(cr.locate(3), (2, 1));
        assert_eq!(cr.locate(7), (3, 1));
    }

    #[test]
    fn finds_keys_without_spans() {
        let text = "[[service]]\nname = \"a\"\nports = [0]\n";
        let m = SourceMap::new(Path::new("x"), text);
        let at = m.key_at(0..text.len(), "ports");
        assert_eq!(m.locate(at.start), (3, 9));
        let inline = "x = { a = 1, ab = 2 }";
        let m = SourceMap::new(Path::new("x"), inline);
        assert_eq!(m.key_at(0..inline.len(), "ab").start, 18);
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(closest("shop-ap", ["shop-app", "grader"]), Some("shop-app"));
        assert_eq!(closest("zzz", ["shop-app"]), None);
    }
}
