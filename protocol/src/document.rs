//! Reading manifests from files: lgmesh's TOML, and records of the UK Cross-Government
//! Metadata Exchange Model in YAML or JSON, as they are.
//!
//! All three formats use the model's field names (`title`, `serviceStatus`,
//! `contactPoint.contactName`, …) plus lgmesh's extensions (`name`, `kind`, `lgsl`,
//! `coverage`, `standards`, `sourceRepository`, `costModel`, …). Every problem is
//! reported with the field it concerns; unknown fields are refused so that a typo never
//! passes silently.

use std::collections::BTreeSet;

use lgmesh_proto::v1;
use serde_json::Value;

use crate::identity::{is_slug, slugify};
use crate::schema::{self, Errors, FieldError};

mod enums;
mod reader;

pub use enums::{EnumTable, FREQUENCIES, enum_label, enum_value};
use enums::{SERVICE_STATUSES, SERVICE_TYPES};
use reader::Reader;

/// The largest document accepted, before parsing.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// A document format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// lgmesh's TOML manifest.
    Toml,
    /// A UK metadata model record in YAML.
    Yaml,
    /// A UK metadata model record in JSON.
    Json,
}

impl Format {
    /// The format for a file name's extension, if known.
    pub fn from_path(path: &str) -> Option<Self> {
        let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
        Self::from_name(&ext)
    }

    /// `toml`, `yaml`/`yml` or `json`, any case.
    pub fn from_name(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "toml" => Some(Self::Toml),
            "yaml" | "yml" => Some(Self::Yaml),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// Larger than [`MAX_DOCUMENT_BYTES`].
    #[error("document: {0} bytes is over the limit of {MAX_DOCUMENT_BYTES}")]
    TooLarge(usize),
    /// Not well-formed TOML, YAML or JSON.
    #[error("document: not valid {format}: {message}")]
    Syntax {
        /// The format.
        format: &'static str,
        /// The parser's message (with line and column where it gives them).
        message: String,
    },
    /// Well-formed, but fields are missing or wrong.
    #[error("{}", schema::join(.0))]
    Fields(Vec<FieldError>),
}

impl DocumentError {
    /// The first field named, if any.
    pub fn first_field(&self) -> Option<&str> {
        match self {
            Self::Fields(f) => f.first().map(|f| f.field.as_str()),
            _ => None,
        }
    }
}

/// What a document describes, ready to be put in a manifest body.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// A service (the model's DataService).
    Service(v1::Service),
    /// A dataset (the model's Dataset).
    Dataset(v1::Dataset),
}

/// A parsed document: the manifest name to publish under, and its content.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The manifest name (slug).
    pub name: String,
    /// The content.
    pub content: Content,
}

/// Values filled in when a document leaves them out.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// The publishing organisation's id (e.g. `gss:E07000209`): the default for
    /// `publisher` and `creator`.
    pub org_id: String,
}

/// Reads any document into a generic tree, bounded in size.
pub fn parse_tree(text: &str, format: Format) -> Result<Value, DocumentError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge(text.len()));
    }
    let syntax = |format: &'static str, message: String| DocumentError::Syntax { format, message };
    match format {
        Format::Toml => toml::from_str::<Value>(text)
            .map_err(|e| syntax("TOML", e.message().to_owned() + &line_of(text, e.span()))),
        Format::Json => {
            serde_json::from_str::<Value>(text).map_err(|e| syntax("JSON", e.to_string()))
        }
        Format::Yaml => {
            // serde_norway refuses alias expansion beyond a small repetition limit, so a
            // "billion laughs" document fails fast; the size bound above caps the rest.
            serde_norway::from_str::<Value>(text).map_err(|e| syntax("YAML", e.to_string()))
        }
    }
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(r) => {
            let line = text[..r.start.min(text.len())].matches('\n').count() + 1;
            format!(" (line {line})")
        }
        None => String::new(),
    }
}

/// Parses a service or dataset document. `name` overrides the document's own name.
pub fn parse(
    text: &str,
    format: Format,
    name: Option<&str>,
    defaults: &Defaults,
) -> Result<Parsed, DocumentError> {
    let tree = parse_tree(text, format)?;
    from_tree(&tree, name, defaults)
}

/// Which UK model class a document is, by `type` (or lgmesh's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordClass {
    /// `dcat:DataService` or `kind = "service"`.
    DataService,
    /// `dcat:Dataset` or `kind = "dataset"`.
    Dataset,
    /// `dcat:Distribution`.
    Distribution,
    /// A ContactPoint (no type; has `contactName` or `email`).
    ContactPoint,
}

/// Checks a document of any of the model's classes without publishing it: DataService
/// and Dataset records as for `publish`, Distribution and ContactPoint records on their own.
pub fn check(
    text: &str,
    format: Format,
    defaults: &Defaults,
) -> Result<RecordClass, DocumentError> {
    let tree = parse_tree(text, format)?;
    let Value::Object(map) = &tree else {
        return Err(fields("document", "must be a table/mapping of fields"));
    };
    let ty = map.get("type").and_then(Value::as_str);
    let looks_like_distribution = ty.is_none()
        && map.get("kind").is_none()
        && (map.contains_key("mediaType") || map.contains_key("downloadURL"));
    if ty == Some("dcat:Distribution") || looks_like_distribution {
        let mut e = Errors::default();
        let mut r = Reader::new(map, "", &mut e);
        let d = r.distribution_record(None, true);
        r.finish();
        if let Some(d) = d {
            schema::check_distribution(&mut e, "distribution", &d);
        }
        return finish(e, RecordClass::Distribution).map_err(strip_prefix("distribution."));
    }
    if ty.is_none()
        && map.get("kind").is_none()
        && (map.contains_key("contactName") || map.contains_key("email"))
    {
        let mut e = Errors::default();
        let mut r = Reader::new(map, "", &mut e);
        let c = r.contact_fields();
        r.finish();
        schema::check_contact(&mut e, "contactPoint", Some(&c), true);
        return finish(e, RecordClass::ContactPoint).map_err(strip_prefix("contactPoint."));
    }
    let parsed = from_tree(&tree, None, defaults)?;
    Ok(match parsed.content {
        Content::Service(_) => RecordClass::DataService,
        Content::Dataset(_) => RecordClass::Dataset,
    })
}

fn strip_prefix(p: &'static str) -> impl Fn(DocumentError) -> DocumentError {
    move |err| match err {
        DocumentError::Fields(fs) => DocumentError::Fields(
            fs.into_iter()
                .map(|f| FieldError {
                    field: f.field.strip_prefix(p).unwrap_or(&f.field).to_owned(),
                    reason: f.reason,
                })
                .collect(),
        ),
        other => other,
    }
}

fn fields(field: &str, reason: &str) -> DocumentError {
    DocumentError::Fields(vec![FieldError {
        field: field.into(),
        reason: reason.into(),
    }])
}

fn finish<T>(e: Errors, v: T) -> Result<T, DocumentError> {
    if e.0.is_empty() {
        Ok(v)
    } else {
        Err(DocumentError::Fields(e.0))
    }
}

/// Parses an already-read tree.
pub fn from_tree(
    tree: &Value,
    name: Option<&str>,
    defaults: &Defaults,
) -> Result<Parsed, DocumentError> {
    let Value::Object(map) = tree else {
        return Err(fields("document", "must be a table/mapping of fields"));
    };
    let mut e = Errors::default();
    let mut r = Reader::new(map, "", &mut e);

    let kind = r.opt_str("kind");
    let ty = r.opt_str("type");
    let class = classify(&mut r, ty.as_deref(), kind.as_deref());
    let doc_name = r.opt_str("name");

    let common = r.common(defaults);
    let local = r.local();
    let content = match class {
        RecordClass::Dataset => {
            let licence = common.licence.clone();
            Content::Dataset(v1::Dataset {
                common: Some(common.clone()),
                local: Some(local),
                update_frequency: r.frequency("updateFrequency"),
                distribution: r.distributions("distribution", &licence),
                conforms_to: r.str_list("conformsTo"),
                temporal_start: r.opt_str("temporalStart").unwrap_or_default(),
                temporal_end: r.opt_str("temporalEnd").unwrap_or_default(),
            })
        }
        _ => Content::Service(v1::Service {
            common: Some(common.clone()),
            local: Some(local),
            service_type: r.enumeration("serviceType", SERVICE_TYPES, true),
            service_status: r.enumeration("serviceStatus", SERVICE_STATUSES, true),
            endpoint_url: r.opt_str("endpointURL").unwrap_or_default(),
            endpoint_description: r.opt_str("endpointDescription").unwrap_or_default(),
            endpoint_description_sha256: r.sha256("endpointDescriptionSha256"),
            serves_data: r.str_list("servesData"),
            answers: r.need_refs("answers"),
        }),
    };
    r.finish();

    let name = match name.map(str::to_owned).or(doc_name) {
        Some(n) => n,
        None => name_from_identifier(&common.identifier),
    };
    if !is_slug(&name) {
        e.push(
            "name",
            format!("{name:?} must be 1-64 of a-z, 0-9 and '-', not starting with '-'"),
        );
    }
    match &content {
        Content::Service(s) => schema::check_service(&mut e, s),
        Content::Dataset(d) => schema::check_dataset(&mut e, d),
    }
    dedup(&mut e);
    finish(e, Parsed { name, content })
}

/// Decides the record's class from `type` and `kind`, reporting a wrong or missing type
/// but still guessing the class, so that the other fields are checked too.
fn classify(r: &mut Reader<'_>, ty: Option<&str>, kind: Option<&str>) -> RecordClass {
    let guess = |s: &str| {
        if s.to_ascii_lowercase().contains("dataset") {
            RecordClass::Dataset
        } else {
            RecordClass::DataService
        }
    };
    let by_fields = if r.map.contains_key("updateFrequency") || r.map.contains_key("distribution") {
        RecordClass::Dataset
    } else {
        RecordClass::DataService
    };
    match (ty, kind) {
        (Some("dcat:DataService"), None | Some("service")) | (None, Some("service")) => {
            RecordClass::DataService
        }
        (Some("dcat:Dataset"), None | Some("dataset")) | (None, Some("dataset")) => {
            RecordClass::Dataset
        }
        (Some(t @ ("dcat:DataService" | "dcat:Dataset")), Some(k)) => {
            r.err("kind", format!("{k:?} contradicts type {t:?}"));
            guess(t)
        }
        (Some("dcat:Distribution"), _) => {
            r.err("type", "a dcat:Distribution is published inside a dataset's `distribution` list (check it alone with `lgmesh check`)");
            RecordClass::Dataset
        }
        (Some(t), _) => {
            r.err(
                "type",
                format!("{t:?} is not dcat:DataService or dcat:Dataset"),
            );
            guess(t)
        }
        (None, Some(k)) => {
            r.err("kind", format!("{k:?} is not service or dataset"));
            by_fields
        }
        (None, None) => {
            r.err(
                "type",
                "required: dcat:DataService or dcat:Dataset (or kind = \"service\" / \"dataset\")",
            );
            by_fields
        }
    }
}

fn dedup(e: &mut Errors) {
    let mut seen = BTreeSet::new();
    e.0.retain(|f| seen.insert(f.field.clone()));
}

/// A manifest name from an identifier: its last path segment when it is a URL
/// (`…/os-postcodes-data` → `os-postcodes-data`), otherwise the whole identifier.
pub fn name_from_identifier(id: &str) -> String {
    let tail = if id.contains("://") {
        id.split(['?', '#'])
            .next()
            .unwrap_or(id)
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(id)
    } else {
        id
    };
    let s = slugify(tail);
    if s.is_empty() { slugify(id) } else { s }
}
