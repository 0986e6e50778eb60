//! CSV downloads of the pages' tables (RFC 4180). A cell that a spreadsheet would run
//! as a formula (one starting `=`, `+`, `-`, `@`, tab or carriage return) is prefixed
//! with `'`: publishers choose titles, and a download must not run what they wrote.

use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

/// A CSV document being written.
pub struct Csv {
    out: String,
}

impl Csv {
    /// A document with a header row.
    pub fn new(header: &[&str]) -> Self {
        let mut c = Self { out: String::new() };
        c.row(header.iter().copied());
        c
    }

    /// Appends a row.
    pub fn row<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) {
        for (i, cell) in cells.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
            let quote = risky || cell.contains([',', '"', '\n', '\r']);
            if quote {
                self.out.push('"');
            }
            if risky {
                self.out.push('\'');
            }
            for ch in cell.chars() {
                if ch == '"' {
                    self.out.push('"');
                }
                self.out.push(ch);
            }
            if quote {
                self.out.push('"');
            }
        }
        self.out.push_str("\r\n");
    }

    /// The document as a download named `file`.
    pub fn download(self, file: &str) -> Response {
        (
            [
                (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file}\""),
                ),
            ],
            self.out,
        )
            .into_response()
    }

    /// The text so far.
    pub fn text(&self) -> &str {
        &self.out
    }
}

/// A file-name-safe form of `s`: letters, digits and `-` only, at most 40.
pub fn safe_name(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        let mut c = Csv::new(&["a", "b"]);
        c.row(["=HYPERLINK(\"x\")", "plain"]);
        c.row(["one, two", "say \"hi\""]);
        assert_eq!(
            c.text(),
            "a,b\r\n\"'=HYPERLINK(\"\"x\"\")\",plain\r\n\"one, two\",\"say \"\"hi\"\"\"\r\n"
        );
    }
}
