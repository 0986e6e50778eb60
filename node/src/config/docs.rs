//! Where each setting's words live, and what is made of them.
//!
//! A setting is described once: in the doc comment on its field. Every config struct is
//! declared through `documented!`, which keeps those comments as data
//! ([`Documented::FIELDS`]) besides making them the struct's rustdoc. From that data
//! [`template`] writes the commented `lgmesh.toml` that `lgmesh init` creates, and
//! [`reference()`] writes the operators' reference, `ops/config-reference.md`, which
//! `node/tests/config_docs.rs` checks is current (`LGMESH_BLESS=1 cargo test -p lgmesh
//! --test config_docs` rewrites it).

use std::fmt::Write as _;

use anyhow::{Result, anyhow};

use super::Config;

/// One field of a config struct: a key of `lgmesh.toml`, or a table of them.
#[derive(Debug)]
pub struct FieldDoc {
    /// The key as written in `lgmesh.toml`.
    pub key: &'static str,
    /// The field's doc comment, one element a line.
    pub doc: &'static [&'static str],
    /// The long flag of `lgmesh run` that overrides it, if one does.
    pub flag: Option<&'static str>,
    /// For a table (a section of the file), its keys; for a value, none.
    pub fields: &'static [FieldDoc],
}

/// A config struct whose fields' doc comments are kept as data; `documented!`
/// implements it.
pub trait Documented {
    /// The fields, in the order they are declared (and written).
    const FIELDS: &'static [FieldDoc] = &[];
}

// A plain value has no keys of its own. Implemented for the types the structs use, so that
// the macro can ask every field's type for its keys without knowing which are tables; a
// field of a new type needs a line here.
impl Documented for bool {}
impl Documented for u32 {}
impl Documented for u64 {}
impl Documented for usize {}
impl Documented for f64 {}
impl Documented for String {}
impl Documented for Vec<String> {}

/// Declares a config struct and implements [`Documented`] for it from its fields' doc
/// comments.
///
/// Write the struct as usual, with one `#[derive(…)]` after its doc comment; every field
/// needs a doc comment and may have, after it, `#[flag = "long-name"]` (the flag of
/// `lgmesh run` that overrides it) and `#[serde(rename = "key")]`. Every struct gets
/// `#[serde(deny_unknown_fields, default)]`: a misspelt key is an error, a missing one
/// takes its default.
macro_rules! documented {
    (@key $field:ident) => { stringify!($field) };
    (@key $field:ident $rename:literal) => { $rename };
    (@flag) => { None };
    (@flag $flag:literal) => { Some($flag) };
    (
        $(#[doc = $doc:literal])*
        #[derive($($derive:path),* $(,)?)]
        pub struct $name:ident {
            $(
                $(#[doc = $fdoc:literal])+
                $(#[flag = $flag:literal])?
                $(#[serde(rename = $rename:literal)])?
                pub $field:ident: $ty:ty,
            )*
        }
    ) => {
        $(#[doc = $doc])*
        #[derive($($derive),*)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $(
                $(#[doc = $fdoc])+
                $(#[serde(rename = $rename)])?
                pub $field: $ty,
            )*
        }

        impl $crate::config::docs::Documented for $name {
            const FIELDS: &'static [$crate::config::docs::FieldDoc] = &[$(
                $crate::config::docs::FieldDoc {
                    key: $crate::config::docs::documented!(@key $field $($rename)?),
                    doc: &[$($fdoc),+],
                    flag: $crate::config::docs::documented!(@flag $($flag)?),
                    fields: <$ty as $crate::config::docs::Documented>::FIELDS,
                }
            ),*];
        }
    };
}
pub(crate) use documented;

/// What the file and the reference say before the first table: about the file, not one
/// key. (`Config`'s own doc comment is about the type, for Rust readers.)
const ABOUT: &[&str] = &[
    "Precedence: a flag of `lgmesh run` or its `LGMESH_*` environment variable, for the",
    "few keys that have one (`lgmesh run --help`), then `lgmesh.toml`, then the default.",
    "A key left out takes its default; an unknown key is an error, so a typo does not",
    "fall back to a default unnoticed. `lgmesh.toml` holds no secret: the keys and the",
    "admin token live beside it, in the data directory.",
];

/// The commented `lgmesh.toml` for `c`: every key with its doc comment and its value.
/// It parses back to `c`.
pub fn template(c: &Config) -> Result<String> {
    let values = toml::Table::try_from(c)?;
    let mut out = String::from("# lgmesh node configuration, written by `lgmesh init`.\n#\n");
    comment(&mut out, ABOUT);
    for section in <Config as Documented>::FIELDS {
        let table = values
            .get(section.key)
            .and_then(toml::Value::as_table)
            .ok_or_else(|| anyhow!("[{}]: not a table", section.key))?;
        let _ = writeln!(out, "\n[{}]", section.key);
        comment(&mut out, section.doc);
        out.push('\n');
        for key in section.fields {
            let value = table
                .get(key.key)
                .ok_or_else(|| anyhow!("{}.{}: has no value to write", section.key, key.key))?;
            comment(&mut out, key.doc);
            let _ = writeln!(out, "{} = {value}", key.key);
        }
    }
    Ok(out)
}

/// Doc comment lines as TOML comments. Rustdoc's lines start with the space after `///`.
fn comment(out: &mut String, lines: &[&str]) {
    for line in lines {
        let line = line.strip_prefix(' ').unwrap_or(line);
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {line}");
        }
    }
}

/// The operators' reference, `ops/config-reference.md`, in Markdown: every key with its
/// default, the flag that overrides it and its doc comment; then every flag of `run`,
/// the clap command of `lgmesh run`, from its help.
pub fn reference(run: &clap::Command) -> Result<String> {
    let defaults = toml::Table::try_from(Config::default())?;
    let mut out = String::new();
    out.push_str(
        "<!-- Generated from the doc comments in node/src/config.rs and node/src/config/: \
         edit those, then run\n     LGMESH_BLESS=1 cargo test -p lgmesh --test config_docs -->\n\n",
    );
    out.push_str("# Configuration reference (`lgmesh.toml`)\n\n");
    for line in ABOUT {
        let _ = writeln!(out, "{line}");
    }
    out.push_str("\n`lgmesh init` writes every key, commented, with its value.\n");
    for section in <Config as Documented>::FIELDS {
        let table = defaults
            .get(section.key)
            .and_then(toml::Value::as_table)
            .ok_or_else(|| anyhow!("[{}]: not a table", section.key))?;
        let _ = writeln!(out, "\n## `[{}]`\n", section.key);
        let _ = writeln!(out, "{}\n", prose(section.doc));
        out.push_str("| key | default | flag / environment | meaning |\n");
        out.push_str("| --- | --- | --- | --- |\n");
        for key in section.fields {
            let default = table
                .get(key.key)
                .ok_or_else(|| anyhow!("{}.{}: has no default", section.key, key.key))?;
            let flag = match key.flag {
                Some(long) => flag_cell(run, long)?,
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "| `{}.{}` | {} | {} | {} |",
                section.key,
                key.key,
                code(&default.to_string()),
                flag,
                cell(&prose(key.doc)),
            );
        }
    }
    let _ = writeln!(out, "\n## Flags of `lgmesh run`\n");
    out.push_str("Each overrides `lgmesh.toml`.\n\n");
    out.push_str("| flag | environment | meaning |\n");
    out.push_str("| --- | --- | --- |\n");
    for arg in run.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let value = if arg.get_action().takes_values() {
            let name = arg
                .get_value_names()
                .and_then(|v| v.first())
                .map_or_else(|| arg.get_id().as_str().to_uppercase(), |n| n.to_string());
            format!(" <{name}>")
        } else {
            String::new()
        };
        let help = arg
            .get_long_help()
            .or_else(|| arg.get_help())
            .map(ToString::to_string)
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            code(&format!("--{long}{value}")),
            arg.get_env()
                .map(|e| code(&e.to_string_lossy()))
                .unwrap_or_default(),
            plain(&help.replace('\n', " ")),
        );
    }
    Ok(out)
}

/// The flag column: `--long`, its environment variable, and whether it repeats.
fn flag_cell(run: &clap::Command, long: &str) -> Result<String> {
    let arg = run
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .ok_or_else(|| anyhow!("--{long}: `lgmesh run` has no such flag"))?;
    let mut s = code(&format!("--{long}"));
    if let Some(env) = arg.get_env() {
        let _ = write!(s, ", {}", code(&env.to_string_lossy()));
    }
    if matches!(arg.get_action(), clap::ArgAction::Append) {
        s.push_str(" (repeatable)");
    }
    Ok(s)
}

/// Doc comment lines as one line of text (paragraphs run together).
fn prose(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text for a Markdown table cell: a `|` would end the cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Plain text (clap's help, not Markdown) for a table cell: `<peer id>` would be taken
/// for an HTML tag and vanish.
fn plain(s: &str) -> String {
    cell(s).replace('<', "&lt;").replace('>', "&gt;")
}

/// `s` as inline code, in a table cell.
fn code(s: &str) -> String {
    format!("`{}`", cell(s))
}
