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
use serde_json::{Map, Value};

use crate::identity::{is_slug, slugify};
use crate::schema::{self, Errors, FieldError};

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

const SERVICE_TYPES: &[(&str, i32)] = &[("EVENT", 1), ("REST", 2), ("SOAP", 3)];
const SERVICE_STATUSES: &[(&str, i32)] = &[
    ("DISCOVERY", 1),
    ("ALPHA", 2),
    ("BETA", 3),
    ("PRIVATE_BETA", 4),
    ("PUBLIC_BETA", 5),
    ("LIVE", 6),
    ("DEPRECATED", 7),
    ("WITHDRAWN", 8),
];
const ACCESS_RIGHTS: &[(&str, i32)] = &[("INTERNAL", 1), ("OPEN", 2), ("COMMERCIAL", 3)];
const SECURITY: &[(&str, i32)] = &[
    ("OFFICIAL", 1),
    ("SECRET", 2),
    ("TOP_SECRET", 3),
    ("NOT_APPLICABLE", 4),
];
const COST_MODELS: &[(&str, i32)] = &[("FREE", 1), ("COST_RECOVERY", 2), ("SUBSCRIPTION", 3)];
/// The model's FrequencyValues, without the `freq:` prefix, in enum order.
pub const FREQUENCIES: &[&str] = &[
    "triennial",
    "biennial",
    "annual",
    "semiannual",
    "threeTimesAYear",
    "quarterly",
    "bimonthly",
    "monthly",
    "semimonthly",
    "biweekly",
    "threeTimesAMonth",
    "weekly",
    "semiweekly",
    "threeTimesAWeek",
    "daily",
    "continuous",
    "irregular",
];

/// The text name of an enum value (`LIVE`), for display and export.
pub fn enum_label(table: EnumTable, v: i32) -> &'static str {
    let t: &[(&str, i32)] = match table {
        EnumTable::ServiceType => SERVICE_TYPES,
        EnumTable::ServiceStatus => SERVICE_STATUSES,
        EnumTable::AccessRights => ACCESS_RIGHTS,
        EnumTable::Security => SECURITY,
        EnumTable::CostModel => COST_MODELS,
        EnumTable::Frequency => {
            return usize::try_from(v - 1)
                .ok()
                .and_then(|i| FREQUENCIES.get(i))
                .copied()
                .unwrap_or("");
        }
    };
    t.iter()
        .find(|(_, n)| *n == v)
        .map(|(s, _)| *s)
        .unwrap_or("")
}

/// Which enumeration, for [`enum_label`] and [`enum_value`].
#[derive(Debug, Clone, Copy)]
pub enum EnumTable {
    /// serviceType
    ServiceType,
    /// serviceStatus
    ServiceStatus,
    /// accessRights
    AccessRights,
    /// securityClassification
    Security,
    /// costModel
    CostModel,
    /// updateFrequency
    Frequency,
}

/// The numeric value of an enum label (`LIVE` → 6), if it is one.
pub fn enum_value(table: EnumTable, label: &str) -> Option<i32> {
    (1..=17).find(|v| enum_label(table, *v) == label)
}

/// Reads fields of one mapping, remembering which were used and collecting errors.
struct Reader<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
    used: BTreeSet<&'a str>,
    errors: &'a mut Errors,
}

impl<'a> Reader<'a> {
    fn new(map: &'a Map<String, Value>, prefix: &str, errors: &'a mut Errors) -> Self {
        Self {
            map,
            prefix: prefix.to_owned(),
            used: BTreeSet::new(),
            errors,
        }
    }

    fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn err(&mut self, key: &str, reason: impl Into<String>) {
        let p = self.path(key);
        self.errors.push(p, reason);
    }

    fn get(&mut self, key: &'a str) -> Option<&'a Value> {
        let (k, v) = self.map.get_key_value(key)?;
        self.used.insert(k.as_str());
        match v {
            Value::Null => None,
            v => Some(v),
        }
    }

    /// Refuses every field that was not read.
    fn finish(&mut self) {
        let unknown: Vec<String> = self
            .map
            .keys()
            .filter(|k| !self.used.contains(k.as_str()))
            .map(|k| k.to_owned())
            .collect();
        for k in unknown {
            self.err(&k, "unknown field (names follow the UK metadata model: serviceStatus, contactPoint, …)");
        }
    }

    fn opt_str(&mut self, key: &'a str) -> Option<String> {
        let v = self.get(key)?;
        match scalar(v) {
            Some(s) => Some(s.trim().to_owned()),
            None => {
                self.err(key, format!("must be text, got {}", type_name(v)));
                None
            }
        }
    }

    fn str_list(&mut self, key: &'a str) -> Vec<String> {
        match self.get(key) {
            None => vec![],
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, it) in items.iter().enumerate() {
                    match scalar(it) {
                        Some(s) => out.push(s.trim().to_owned()),
                        None => self.err(
                            &format!("{key}[{i}]"),
                            format!("must be text, got {}", type_name(it)),
                        ),
                    }
                }
                out
            }
            // A single value where a list is expected is taken as a list of one.
            Some(v) => match scalar(v) {
                Some(s) => vec![s.trim().to_owned()],
                None => {
                    self.err(key, format!("must be a list of text, got {}", type_name(v)));
                    vec![]
                }
            },
        }
    }

    fn enumeration(&mut self, key: &'a str, table: &[(&str, i32)], required: bool) -> i32 {
        match self.opt_str(key) {
            None => {
                if required {
                    self.err(key, "required");
                }
                0
            }
            Some(s) => match table.iter().find(|(n, _)| *n == s) {
                Some((_, v)) => *v,
                None => {
                    let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
                    self.err(key, format!("{s:?} is not one of {}", names.join(", ")));
                    0
                }
            },
        }
    }

    fn frequency(&mut self, key: &'a str) -> i32 {
        let Some(s) = self.opt_str(key) else {
            self.err(
                key,
                "required, e.g. freq:monthly (freq:irregular when unknown)",
            );
            return 0;
        };
        let bare = s.strip_prefix("freq:").unwrap_or(&s);
        match FREQUENCIES.iter().position(|f| *f == bare) {
            Some(i) => i32::try_from(i + 1).unwrap_or(0),
            None => {
                self.err(key, format!("{s:?} is not a freq: term (freq:daily, freq:weekly, freq:monthly, freq:quarterly, freq:annual, freq:irregular, …)"));
                0
            }
        }
    }

    fn sha256(&mut self, key: &'a str) -> Vec<u8> {
        match self.opt_str(key) {
            None => vec![],
            Some(s) => match hex::decode(&s) {
                Ok(b) if b.len() == 32 => b,
                _ => {
                    self.err(key, "must be 64 hex characters (a SHA-256)");
                    vec![]
                }
            },
        }
    }

    fn date(&mut self, key: &'a str) -> String {
        let Some(v) = self.get(key) else {
            return String::new();
        };
        // TOML writes bare dates as its own datetime type.
        let s = match v {
            Value::Object(m) if m.len() == 1 => m
                .get("$__toml_private_datetime")
                .and_then(Value::as_str)
                .map(str::to_owned),
            v => scalar(v),
        };
        match s {
            Some(s) => s.trim().to_owned(),
            None => {
                self.err(key, format!("must be a date, got {}", type_name(v)));
                String::new()
            }
        }
    }

    fn u64(&mut self, key: &'a str) -> u64 {
        match self.get(key) {
            None => 0,
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 => n,
                _ => {
                    self.err(key, "must be a positive whole number");
                    0
                }
            },
        }
    }

    fn contact_fields(&mut self) -> v1::ContactPoint {
        v1::ContactPoint {
            contact_name: self.opt_str("contactName").unwrap_or_default(),
            email: self.opt_str("email").unwrap_or_default(),
            telephone: self.opt_str("telephone").unwrap_or_default(),
            address: self.opt_str("address").unwrap_or_default(),
        }
    }

    fn contact(&mut self, key: &'a str) -> Option<v1::ContactPoint> {
        match self.get(key)? {
            Value::Object(m) => {
                let prefix = self.path(&format!("{key}."));
                let mut r = Reader::new(m, &prefix, self.errors);
                let c = r.contact_fields();
                r.finish();
                Some(c)
            }
            v => {
                self.err(
                    key,
                    format!(
                        "must be a ContactPoint with contactName and email, got {}",
                        type_name(v)
                    ),
                );
                None
            }
        }
    }

    fn common(&mut self, d: &Defaults) -> v1::Catalogued {
        let publisher = self
            .opt_str("publisher")
            .unwrap_or_else(|| d.org_id.clone());
        let mut creator = self.str_list("creator");
        if creator.is_empty() && !d.org_id.is_empty() && !self.map.contains_key("creator") {
            creator.push(d.org_id.clone());
        }
        v1::Catalogued {
            identifier: self.opt_str("identifier").unwrap_or_default(),
            title: self.opt_str("title").unwrap_or_default(),
            alternative_title: self.str_list("alternativeTitle"),
            summary: self.opt_str("summary").unwrap_or_default(),
            description: self.opt_str("description").unwrap_or_default(),
            keyword: self.str_list("keyword"),
            theme: self.str_list("theme"),
            licence: self.opt_str("licence").unwrap_or_default(),
            access_rights: self.enumeration("accessRights", ACCESS_RIGHTS, true),
            security_classification: self.enumeration("securityClassification", SECURITY, true),
            version: self.opt_str("version").unwrap_or_default(),
            issued: self.date("issued"),
            modified: self.date("modified"),
            created: self.date("created"),
            creator,
            publisher,
            contact_point: self.contact("contactPoint"),
            related_resource: self.str_list("relatedResource"),
        }
    }

    fn local(&mut self) -> v1::LocalGov {
        let lgsl = match self.get("lgsl") {
            None => vec![],
            Some(v) => {
                let items: Vec<&Value> = match v {
                    Value::Array(a) => a.iter().collect(),
                    v => vec![v],
                };
                let mut out = vec![];
                for (i, it) in items.into_iter().enumerate() {
                    let n = it
                        .as_u64()
                        .or_else(|| it.as_str().and_then(|s| s.trim().parse().ok()));
                    match n.and_then(|n| u32::try_from(n).ok()) {
                        Some(n) => out.push(n),
                        None => self.err(
                            &format!("lgsl[{i}]"),
                            format!(
                                "{} is not an LGSL code (a number 1-9999, e.g. 524)",
                                compact(it)
                            ),
                        ),
                    }
                }
                out
            }
        };
        v1::LocalGov {
            lgsl,
            coverage: self.str_list("coverage"),
            standards: self.str_list("standards"),
            source_repository: self.opt_str("sourceRepository").unwrap_or_default(),
            cost_model: self.enumeration("costModel", COST_MODELS, false),
        }
    }

    /// One Distribution given as a record (a mapping).
    fn distribution_record(
        &mut self,
        dataset_licence: Option<&str>,
        standalone: bool,
    ) -> Option<v1::Distribution> {
        match self.opt_str("type").as_deref() {
            Some("dcat:Distribution") => {}
            Some(t) => self.err("type", format!("{t:?} is not dcat:Distribution")),
            None if standalone => self.err("type", "required: dcat:Distribution"),
            None => {}
        }
        let download_url = self.opt_str("downloadURL").unwrap_or_default();
        let identifier = self.opt_str("identifier").unwrap_or_else(|| {
            if standalone {
                String::new()
            } else {
                download_url.clone()
            }
        });
        let licence = self
            .opt_str("licence")
            .or_else(|| dataset_licence.map(str::to_owned))
            .unwrap_or_default();
        Some(v1::Distribution {
            identifier,
            title: self.opt_str("title").unwrap_or_default(),
            description: self.opt_str("description").unwrap_or_default(),
            download_url,
            media_type: self.opt_str("mediaType").unwrap_or_default(),
            byte_size: self.u64("byteSize"),
            sha256: self.sha256("sha256"),
            licence,
            access_rights: self.enumeration("accessRights", ACCESS_RIGHTS, false),
            issued: self.date("issued"),
            modified: self.date("modified"),
            access_service: self.str_list("accessService"),
        })
    }

    fn distributions(&mut self, key: &'a str, licence: &str) -> Vec<v1::Distribution> {
        let items: Vec<&Value> = match self.get(key) {
            None => return vec![],
            Some(Value::Array(a)) => a.iter().collect(),
            Some(v) => vec![v],
        };
        let mut out = vec![];
        for (i, it) in items.into_iter().enumerate() {
            match it {
                // The model's own examples list distributions by URL.
                Value::String(url) => out.push(v1::Distribution {
                    identifier: url.clone(),
                    title: name_from_identifier(url),
                    download_url: url.clone(),
                    media_type: "application/octet-stream".into(),
                    licence: licence.to_owned(),
                    ..Default::default()
                }),
                Value::Object(m) => {
                    let prefix = self.path(&format!("{key}[{i}]."));
                    let mut r = Reader::new(m, &prefix, self.errors);
                    let d = r.distribution_record(Some(licence), false);
                    r.finish();
                    out.extend(d);
                }
                v => self.err(
                    &format!("{key}[{i}]"),
                    format!(
                        "must be a URL or a Distribution record, got {}",
                        type_name(v)
                    ),
                ),
            }
        }
        out
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table/mapping",
    }
}

/// A value as it appears in a message: its first 40 characters (not bytes: a value
/// of multibyte characters must not be cut inside one).
fn compact(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s,
    }
}
