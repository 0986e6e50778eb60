//! The value checks every kind shares: http(s) URLs, URIs, dates, licences, media types,
//! emails and the characters no text may hold (with [`escape_unsafe`] for output), and
//! the field helpers built on them that record what is wrong with a text, a list, a
//! date or an enumeration.

use super::{Errors, limits};

/// An http(s) URL with a host.
pub fn is_http_url(s: &str) -> bool {
    s.len() <= limits::URL
        && !s
            .chars()
            .any(|c| c.is_whitespace() || is_unsafe_char(c, false))
        && url::Url::parse(s)
            .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .unwrap_or(false)
}

/// A URI or CURIE (`scheme:rest`) or a bare identifier without spaces.
pub(super) fn is_uri_or_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= limits::URL
        && !s
            .chars()
            .any(|c| c.is_whitespace() || is_unsafe_char(c, false))
}

/// An ISO 8601 calendar date as the model uses it: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
pub fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let num = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [y] => num(y, 4),
        [y, m] => num(y, 4) && num(m, 2) && (1..=12).contains(&m.parse::<u32>().unwrap_or(0)),
        [y, m, d] => {
            num(y, 4)
                && num(m, 2)
                && num(d, 2)
                && (1..=12).contains(&m.parse::<u32>().unwrap_or(0))
                && (1..=days_in_month(y.parse().unwrap_or(1), m.parse().unwrap_or(1)))
                    .contains(&d.parse::<u32>().unwrap_or(0))
        }
        _ => false,
    }
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The model's licence rule: a URI, or the literal `DATA_SHARE_AGREEMENT`.
pub fn is_licence(s: &str) -> bool {
    s == "DATA_SHARE_AGREEMENT" || (s.contains(':') && is_uri_or_token(s))
}

/// The model's mediaType pattern: an IANA top-level type, a slash, and a subtype.
pub fn is_media_type(s: &str) -> bool {
    const TOP: &[&str] = &[
        "application",
        "audio",
        "font",
        "image",
        "message",
        "model",
        "multipart",
        "text",
        "video",
    ];
    match s.split_once('/') {
        Some((top, sub)) => {
            TOP.contains(&top)
                && !sub.is_empty()
                && !sub
                    .chars()
                    .any(|c| c.is_whitespace() || is_unsafe_char(c, false))
                && s.len() <= 255
        }
        None => false,
    }
}

/// The model's email pattern `^\S+@[\S+\.]+\S+`.
pub fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((l, d)) => {
            !l.is_empty()
                && d.len() >= 2
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || is_unsafe_char(c, false))
                && s.len() <= 320
        }
        None => false,
    }
}

/// Characters no text field may hold: control characters (C0, DEL and C1), which a
/// terminal acts on (ESC starts a colour or cursor sequence, BEL rings, CR overwrites
/// the line), and the invisible formatting characters that reorder or hide text (bidi
/// overrides and isolates, zero-width marks), with which a title could be made to read
/// `[verified]` or to hide what follows it. A `multiline` field (a description) may
/// hold line breaks and tabs.
pub fn is_unsafe_char(c: char, multiline: bool) -> bool {
    if multiline && matches!(c, '\n' | '\r' | '\t') {
        return false;
    }
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// `s` with every character [`is_unsafe_char`] refuses (line breaks and tabs too,
/// unless `multiline`) written as a JSON-style escape (`\u001b`), for output to a
/// terminal: what a peer or an old store holds can then never act on the terminal.
pub fn escape_unsafe(s: &str, multiline: bool) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe_char(c, multiline)) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe_char(c, multiline) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The first unsafe character of `v`, as the reason a field is refused.
fn unsafe_reason(v: &str, multiline: bool) -> Option<String> {
    v.chars().find(|c| is_unsafe_char(*c, multiline)).map(|c| {
        format!(
            "must not contain control or invisible formatting characters (found U+{:04X})",
            u32::from(c)
        )
    })
}

pub(super) fn text(e: &mut Errors, field: &str, v: &str, required: bool, max: usize) {
    text_lines(e, field, v, required, max, false)
}

/// As [`text`], for a field that may run over several lines (a description).
pub(super) fn text_lines(
    e: &mut Errors,
    field: &str,
    v: &str,
    required: bool,
    max: usize,
    multiline: bool,
) {
    if v.trim().is_empty() {
        if required {
            e.push(field, "required");
        }
    } else if v.chars().count() > max {
        e.push(
            field,
            format!("at most {max} characters, got {}", v.chars().count()),
        );
    } else if let Some(why) = unsafe_reason(v, multiline) {
        e.push(field, why);
    }
}

pub(super) fn list(
    e: &mut Errors,
    field: &str,
    items: &[String],
    max_len: usize,
    check: fn(&str) -> bool,
    what: &str,
) {
    if items.len() > limits::LIST {
        e.push(
            field,
            format!("at most {} items, got {}", limits::LIST, items.len()),
        );
    }
    for (i, it) in items.iter().enumerate() {
        if let Some(why) = unsafe_reason(it, false) {
            e.push(format!("{field}[{i}]"), why);
        } else if it.trim().is_empty() || it.chars().count() > max_len || !check(it) {
            e.push(format!("{field}[{i}]"), format!("{it:?} is not {what}"));
        }
    }
}

pub(super) fn opt_url(e: &mut Errors, field: &str, v: &str) {
    if !v.is_empty() && !is_http_url(v) {
        e.push(field, format!("{v:?} is not an http(s) URL"));
    }
}

pub(super) fn opt_date(e: &mut Errors, field: &str, v: &str, required: bool) {
    if v.is_empty() {
        if required {
            e.push(field, "required");
        }
    } else if !is_date(v) {
        e.push(
            field,
            format!("{v:?} is not a date (YYYY-MM-DD, YYYY-MM or YYYY)"),
        );
    }
}

pub(super) fn enum_set(e: &mut Errors, field: &str, v: i32, valid: bool) {
    if v == 0 {
        e.push(field, "required");
    } else if !valid {
        e.push(field, format!("unknown value {v}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        for ok in ["2023", "2023-02", "2023-02-28", "2024-02-29"] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in [
            "2023-01-30T12:12:12",
            "2023-13",
            "2023-02-30",
            "23-01-01",
            "",
            "2023-1-1",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }

    #[test]
    fn media_types() {
        assert!(is_media_type("text/csv"));
        assert!(is_media_type(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        ));
        assert!(!is_media_type("CSV"));
        assert!(!is_media_type("https://w3id.org/uri4uri/mime/text/csv"));
    }
}
