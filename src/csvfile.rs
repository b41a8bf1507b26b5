//! CSV files opslab reads (class rosters) and writes (the grade book, the access sheet), and text
//! put into Markdown tables. Cells opslab writes may hold what a trainee or a roster chose (a
//! name, an e-mail), so every written cell is neutralised against spreadsheet formulas (OWASP's
//! CSV injection guidance: a cell starting with `=`, `+`, `-`, `@`, tab or carriage return gets a
//! leading `'`) and quoted as the format needs, by the `csv` crate.
//!
//! This module knows rows of text only: what a roster's columns mean, or a grade book's, is the
//! caller's.

use std::path::{Path, PathBuf};

/// One record of a CSV file, with the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: usize,
    pub fields: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("{0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    /// Text that is not CSV (an unclosed quote runs to the end) or not UTF-8.
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
}

impl CsvError {
    /// The 1-based line the error is on (0 when the file could not be read at all).
    pub fn line(&self) -> usize {
        match self {
            CsvError::Io(..) => 0,
            CsvError::Syntax { line, .. } => *line,
        }
    }
}

/// Reads a CSV file's records: see `parse_rows`.
pub fn read_rows(path: &Path) -> Result<Vec<Row>, CsvError> {
    let bytes = std::fs::read(path).map_err(|e| CsvError::Io(path.to_path_buf(), e))?;
    parse_rows(&bytes)
}

/// The records of CSV text, each with the line it starts on: fields may be quoted and then hold
/// commas, doubled quotes and line breaks; a UTF-8 byte order mark is skipped; fields are trimmed;
/// blank lines and lines starting with `#` are left out. Records may have any number of fields
/// (the caller says how many it wants, and where). The first line is a record like the others.
pub fn parse_rows(bytes: &[u8]) -> Result<Vec<Row>, CsvError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let bytes = prepare(bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(bytes.as_slice());
    let mut rows = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                return Err(CsvError::Syntax {
                    line: e
                        .position()
                        .map(|p| p.line() as usize)
                        .unwrap_or(reader.position().line() as usize),
                    message: e.to_string(),
                })
            }
        }
        // The reader says where it stands after the record (blank and comment lines before it
        // are counted in the record's own position): the record's first line is its last less
        // the line breaks inside its fields.
        let end = reader.position();
        let after_newline = (end.byte() as usize)
            .checked_sub(1)
            .and_then(|i| bytes.get(i))
            == Some(&b'\n');
        let last = end.line() as usize - usize::from(after_newline);
        let breaks: usize = record
            .iter()
            .map(|f| f.iter().filter(|b| **b == b'\n').count())
            .sum();
        let line = last.saturating_sub(breaks).max(1);
        let mut fields = Vec::with_capacity(record.len());
        for (i, field) in record.iter().enumerate() {
            let text = std::str::from_utf8(field).map_err(|_| CsvError::Syntax {
                line,
                message: format!("field {} is not UTF-8 text", i + 1),
            })?;
            fields.push(text.trim().to_string());
        }
        if fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        rows.push(Row { line, fields });
    }
    Ok(rows)
}

/// Prepares CSV text for the reader. `a, "b, c"` written by hand means the field `b, c`, but to
/// a CSV reader the space makes the quote a plain character: spaces and tabs between a field's
/// start and its opening quote are dropped (never a line break: lines keep their numbers). A
/// quote left open would swallow the rest of the file into one field: it is an error, on the
/// line it opens.
fn prepare(bytes: &[u8]) -> Result<Vec<u8>, CsvError> {
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut state = State::FieldStart;
    let mut line = 1;
    let mut opened = 1;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if matches!(state, State::FieldStart) && (b == b' ' || b == b'\t') {
            let blanks = bytes[i..]
                .iter()
                .take_while(|c| **c == b' ' || **c == b'\t');
            let n = blanks.count();
            if bytes.get(i + n) == Some(&b'"') {
                i += n;
                continue;
            }
        }
        let ends_field = b == b',' || b == b'\n' || b == b'\r';
        state = match state {
            State::FieldStart | State::Unquoted if ends_field => State::FieldStart,
            State::FieldStart if b == b'"' => {
                opened = line;
                State::Quoted
            }
            State::FieldStart | State::Unquoted => State::Unquoted,
            State::Quoted if b == b'"' => State::QuoteInQuoted,
            State::Quoted => State::Quoted,
            State::QuoteInQuoted if b == b'"' => State::Quoted,
            State::QuoteInQuoted if ends_field => State::FieldStart,
            State::QuoteInQuoted => State::Unquoted,
        };
        if b == b'\n' {
            line += 1;
        }
        out.push(b);
        i += 1;
    }
    if matches!(state, State::Quoted) {
        return Err(CsvError::Syntax {
            line: opened,
            message: "a quote opened here is never closed".into(),
        });
    }
    Ok(out)
}

/// Characters that make a spreadsheet read a cell as a formula when they come first (with their
/// full-width forms, which some spreadsheets read the same way).
const FORMULA_PREFIXES: &[char] = &[
    '=', '+', '-', '@', '\t', '\r', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
];

/// Whether a spreadsheet could read `cell` as a formula: its first character, or its first after
/// leading spaces (some spreadsheets trim them), is a formula prefix.
pub fn is_formula(cell: &str) -> bool {
    let first = cell.chars().next();
    let first_after_spaces = cell.trim_start_matches(' ').chars().next();
    [first, first_after_spaces]
        .into_iter()
        .flatten()
        .any(|c| FORMULA_PREFIXES.contains(&c))
}

/// The cell as written: with a leading `'` when a spreadsheet could read it as a formula, so
/// that it shows as text. Reading it back, strip one leading `'` from a cell that starts with
/// `'` followed by a formula prefix.
pub fn neutralise(cell: &str) -> String {
    if is_formula(cell) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

/// CSV text: a header line, then one line per row; every cell neutralised (`neutralise`) and
/// quoted when it holds a comma, a quote or a line break. Lines end with `\n`.
pub fn write_rows<R, C>(header: &[&str], rows: R) -> Vec<u8>
where
    R: IntoIterator,
    R::Item: IntoIterator<Item = C>,
    C: AsRef<str>,
{
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    // Writing into memory cannot fail: the results are ignored.
    let _ = writer.write_record(header.iter().map(|h| neutralise(h)));
    for row in rows {
        let _ = writer.write_record(row.into_iter().map(|c| neutralise(c.as_ref())));
    }
    writer.into_inner().unwrap_or_default()
}

/// Text for one cell of a Markdown table: it cannot end the cell (`|`), break the row (line
/// breaks become spaces), open code, emphasis, links or HTML (`` ` `` `*` `_` `[` `]` `<` `>`
/// `~` `\` are escaped with a backslash, `&` too), and a cell a spreadsheet would read as a
/// formula once the table is pasted into one starts with `'`, as in CSV.
pub fn markdown_cell(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = String::with_capacity(flat.len() + 8);
    if is_formula(&flat) || is_formula(s) {
        out.push('\'');
    }
    for c in flat.chars() {
        if matches!(
            c,
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '~' | '&'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(rows: &[Row]) -> Vec<Vec<&str>> {
        rows.iter()
            .map(|r| r.fields.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn reads_quoted_fields_with_commas_quotes_line_breaks_bom_and_non_ascii() {
        let text = "\u{FEFF}id,name,email\n\
                    # a comment\n\
                    \n\
                    t1, \"Durand, Zoë\" ,zoe@example.org\n\
                    t2,\"Bob \"\"the builder\"\"\",bob@example.org\n\
                    t3,\"two\nlines\",\"=1+1,@example.org\"\n\
                    t4,=HYPERLINK(\"x\"),ünï@exämple.org\n";
        let rows = parse_rows(text.as_bytes()).expect("parses");
        assert_eq!(
            fields(&rows),
            vec![
                vec!["id", "name", "email"],
                vec!["t1", "Durand, Zoë", "zoe@example.org"],
                vec!["t2", "Bob \"the builder\"", "bob@example.org"],
                vec!["t3", "two\nlines", "=1+1,@example.org"],
                vec!["t4", "=HYPERLINK(\"x\")", "ünï@exämple.org"],
            ]
        );
        // Lines count from 1, a record on two lines takes both, the BOM moves nothing.
        assert_eq!(
            rows.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![1, 4, 5, 6, 8]
        );
    }

    #[test]
    fn lines_are_counted_with_crlf_endings_and_without_a_final_newline() {
        let rows = parse_rows(b"a,b\r\n\r\n# c\r\n\"x\r\ny\",z\r\nlast,1").expect("parses");
        assert_eq!(
            rows.iter()
                .map(|r| (r.line, r.fields.clone()))
                .collect::<Vec<_>>(),
            vec![
                (1, vec!["a".to_string(), "b".to_string()]),
                (4, vec!["x\r\ny".to_string(), "z".to_string()]),
                (6, vec!["last".to_string(), "1".to_string()]),
            ]
        );
    }

    #[test]
    fn an_unclosed_quote_is_an_error_where_it_opens() {
        let err = parse_rows("id,name\nt1,\"Zoë\nt2,bob\n".as_bytes()).expect_err("unclosed");
        assert_eq!(err.line(), 2, "{err}");
        // A quote inside an unquoted field is a plain character.
        let rows = parse_rows(b"t1,Bob \"B\" Smith,b@c.d\n").expect("parses");
        assert_eq!(rows[0].fields[1], "Bob \"B\" Smith");
    }

    #[test]
    fn rows_keep_their_own_field_counts() {
        let rows = parse_rows(b"a,b,c\nd,e\n").expect("parses");
        assert_eq!(fields(&rows), vec![vec!["a", "b", "c"], vec!["d", "e"]]);
    }

    #[test]
    fn bad_text_is_reported_with_its_line() {
        let err = parse_rows(b"id,name,email\nt1,\xFF\xFE,a@b.c\n").expect_err("not UTF-8");
        assert_eq!(err.line(), 2, "{err}");
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    #[test]
    fn formula_prefixes_are_neutralised() {
        for cell in [
            "=1+1",
            "+33 6 12",
            "-2",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "  =1+1",
            "\u{FF1D}1+1",
        ] {
            assert!(is_formula(cell), "{cell:?}");
            assert_eq!(neutralise(cell), format!("'{cell}"));
        }
        for cell in ["Zoë", "a=b", "1+1", "", "'quoted", "x@example.org"] {
            assert_eq!(neutralise(cell), cell);
        }
    }

    #[test]
    fn written_rows_read_back_the_same_and_hold_no_formula() {
        let rows = vec![
            vec!["t1", "=1+1", "a,b@example.org"],
            vec!["t2", "Zoë \"Z\" Durand", "-x@example.org"],
            vec!["t3", "two\nlines", "@me"],
        ];
        let bytes = write_rows(&["id", "name", "email"], rows.clone());
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes.as_slice());
        let back: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.expect("a record").iter().map(str::to_string).collect())
            .collect();
        assert_eq!(back[0], vec!["id", "name", "email"]);
        for (want, got) in rows.iter().zip(&back[1..]) {
            for (w, g) in want.iter().zip(got) {
                assert!(!is_formula(g), "{g:?} is a formula");
                let restored = match g.strip_prefix('\'') {
                    Some(rest) if is_formula(rest) => rest,
                    _ => g.as_str(),
                };
                assert_eq!(restored, *w);
            }
        }
    }

    #[test]
    fn markdown_cells_stay_in_their_cell() {
        assert_eq!(markdown_cell("a | b"), "a \\| b");
        assert_eq!(markdown_cell("two\nlines\r\n"), "two lines  ");
        assert_eq!(markdown_cell("`rm -rf`"), "\\`rm -rf\\`");
        assert_eq!(
            markdown_cell("<img src=x onerror=alert(1)>"),
            "\\<img src=x onerror=alert(1)\\>"
        );
        assert_eq!(markdown_cell("[x](http://e.vil)"), "\\[x\\](http://e.vil)");
        assert_eq!(markdown_cell("=1+1"), "'=1+1");
        assert_eq!(markdown_cell("\t=1"), "' =1");
        assert_eq!(markdown_cell("Zoë Durand"), "Zoë Durand");
        assert_eq!(markdown_cell("a\\|b"), "a\\\\\\|b");
    }
}
