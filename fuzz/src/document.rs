//! The `document` target: a manifest file, as `lgmesh publish`, `lgmesh check` and the
//! gRPC `Publish` read it (`lgmesh_protocol::document::parse` and `check`).
//!
//! A built [`Document`] is a list of fields (mostly the names the reader knows, with
//! values of every type, nested a few levels), rendered as TOML, YAML or JSON by a
//! serialiser, so that it is well-formed and the fuzzer spends its time in the UK
//! metadata model mapping rather than in syntax errors. Raw input is any text; its
//! first byte picks the format.

use std::fmt::Write;

use arbitrary::{Arbitrary, Unstructured};
use lgmesh_protocol::document::{self, Defaults, Format};
use serde_json::{Map, Value as Json};

use crate::text::Text;
use crate::{Input, Target};

/// Field names the reader knows (top level, contact points and distributions).
const FIELDS: &[&str] = &[
    "kind",
    "type",
    "name",
    "identifier",
    "title",
    "alternativeTitle",
    "summary",
    "description",
    "keyword",
    "theme",
    "licence",
    "accessRights",
    "securityClassification",
    "version",
    "issued",
    "modified",
    "created",
    "creator",
    "publisher",
    "contactPoint",
    "relatedResource",
    "lgsl",
    "coverage",
    "standards",
    "sourceRepository",
    "costModel",
    "serviceType",
    "serviceStatus",
    "endpointURL",
    "endpointDescription",
    "endpointDescriptionSha256",
    "servesData",
    "updateFrequency",
    "distribution",
    "conformsTo",
    "temporalStart",
    "temporalEnd",
    "downloadURL",
    "mediaType",
    "byteSize",
    "sha256",
    "accessService",
    "contactName",
    "email",
    "telephone",
    "address",
];

/// A document format.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Syntax {
    /// lgmesh's TOML.
    Toml,
    /// The UK model's YAML.
    Yaml,
    /// The UK model's JSON.
    Json,
}

impl Syntax {
    /// The reader's format.
    pub fn format(self) -> Format {
        match self {
            Self::Toml => Format::Toml,
            Self::Yaml => Format::Yaml,
            Self::Json => Format::Json,
        }
    }

    /// The name the API and the CLI take.
    pub fn name(self) -> &'static str {
        match self {
            Self::Toml => "toml",
            Self::Yaml => "yaml",
            Self::Json => "json",
        }
    }
}

/// A field name.
#[derive(Debug, Clone, Arbitrary)]
enum Key {
    Known(u8),
    Text(Text),
}

impl Key {
    fn as_str(&self) -> &str {
        match self {
            Self::Known(i) => FIELDS[usize::from(*i) % FIELDS.len()],
            Self::Text(t) => t.as_str(),
        }
    }
}

/// A field value. Lists and tables nest at most [`MAX_DEPTH`] deep.
#[derive(Debug, Clone)]
enum Value {
    Text(Text),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// `null` in JSON and YAML; TOML has none, so the field is left out.
    Null,
    /// A bare date in TOML (its own datetime type), text elsewhere.
    Date(u16, u8, u8),
    List(Vec<Value>),
    Table(Vec<(Key, Value)>),
}

const MAX_DEPTH: usize = 3;

impl Value {
    fn at_depth(u: &mut Unstructured<'_>, depth: usize) -> arbitrary::Result<Self> {
        let choices = if depth >= MAX_DEPTH { 6 } else { 8 };
        Ok(match u.choose_index(choices)? {
            0 => Self::Text(Text::arbitrary(u)?),
            1 => Self::Int(i64::arbitrary(u)?),
            2 => Self::Float(f64::arbitrary(u)?),
            3 => Self::Bool(bool::arbitrary(u)?),
            4 => Self::Null,
            5 => Self::Date(u16::arbitrary(u)?, u8::arbitrary(u)?, u8::arbitrary(u)?),
            6 => {
                let mut items = vec![];
                while items.len() < 16 && bool::arbitrary(u)? {
                    items.push(Self::at_depth(u, depth + 1)?);
                }
                Self::List(items)
            }
            _ => Self::Table(fields(u, depth + 1)?),
        })
    }

    fn date(y: u16, m: u8, d: u8) -> String {
        format!("{:04}-{:02}-{:02}", y % 10_000, m % 14, d % 33)
    }

    fn json(&self) -> Json {
        match self {
            Self::Text(t) => Json::String(t.0.clone()),
            Self::Int(n) => Json::from(*n),
            Self::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Self::Bool(b) => Json::Bool(*b),
            Self::Null => Json::Null,
            Self::Date(y, m, d) => Json::String(Self::date(*y, *m, *d)),
            Self::List(items) => Json::Array(items.iter().map(Self::json).collect()),
            Self::Table(fields) => Json::Object(json_map(fields)),
        }
    }

    /// TOML for an inline value; `None` for a null.
    fn toml(&self) -> Option<String> {
        Some(match self {
            Self::Text(t) => quote(t.as_str()),
            Self::Int(n) => n.to_string(),
            Self::Float(f) if f.is_nan() => "nan".into(),
            Self::Float(f) if f.is_infinite() => (if *f > 0.0 { "inf" } else { "-inf" }).into(),
            Self::Float(f) => format!("{f:?}"),
            Self::Bool(b) => b.to_string(),
            Self::Null => return None,
            Self::Date(y, m, d) => Self::date(*y, *m, *d),
            Self::List(items) => {
                let items: Vec<String> = items.iter().filter_map(Self::toml).collect();
                format!("[{}]", items.join(", "))
            }
            Self::Table(fields) => {
                let pairs: Vec<String> = fields
                    .iter()
                    .filter_map(|(k, v)| Some(format!("{} = {}", toml_key(k.as_str()), v.toml()?)))
                    .collect();
                format!("{{ {} }}", pairs.join(", "))
            }
        })
    }
}

impl<'a> Arbitrary<'a> for Value {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Self::at_depth(u, 0)
    }
}

fn fields(u: &mut Unstructured<'_>, depth: usize) -> arbitrary::Result<Vec<(Key, Value)>> {
    let mut fields = vec![];
    while fields.len() < 64 && bool::arbitrary(u)? {
        fields.push((Key::arbitrary(u)?, Value::at_depth(u, depth)?));
    }
    Ok(fields)
}

fn json_map(fields: &[(Key, Value)]) -> Map<String, Json> {
    fields
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.json()))
        .collect()
}

/// A TOML basic string: JSON's escapes are all valid TOML escapes.
fn quote(s: &str) -> String {
    Json::String(s.to_owned()).to_string()
}

fn toml_key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare { k.to_owned() } else { quote(k) }
}

/// A manifest document.
#[derive(Debug)]
pub struct Document {
    syntax: Syntax,
    /// JSON on one line or indented.
    pretty: bool,
    /// The name given beside the document (`lgmesh publish --name`).
    name: Option<Text>,
    fields: Vec<(Key, Value)>,
}

impl<'a> Arbitrary<'a> for Document {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self {
            syntax: Syntax::arbitrary(u)?,
            pretty: bool::arbitrary(u)?,
            name: Option::arbitrary(u)?,
            fields: fields(u, 0)?,
        })
    }
}

impl Document {
    /// The format.
    pub fn syntax(&self) -> Syntax {
        self.syntax
    }

    /// The name given beside the document, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_ref().map(Text::as_str)
    }

    /// The document's text. Tables at the top level of TOML become `[sections]`, and
    /// lists of tables `[[arrays of tables]]`, as people write them.
    pub fn render(&self) -> String {
        match self.syntax {
            Syntax::Json if self.pretty => {
                serde_json::to_string_pretty(&Json::Object(json_map(&self.fields)))
                    .unwrap_or_default()
            }
            Syntax::Json => Json::Object(json_map(&self.fields)).to_string(),
            Syntax::Yaml => {
                serde_norway::to_string(&Json::Object(json_map(&self.fields))).unwrap_or_default()
            }
            Syntax::Toml => {
                let mut out = String::new();
                let mut sections = String::new();
                for (k, v) in &self.fields {
                    let key = toml_key(k.as_str());
                    match v {
                        Value::Table(t) => {
                            let _ = writeln!(sections, "\n[{key}]");
                            for (k, v) in t {
                                if let Some(v) = v.toml() {
                                    let _ = writeln!(sections, "{} = {v}", toml_key(k.as_str()));
                                }
                            }
                        }
                        Value::List(items)
                            if !items.is_empty()
                                && items.iter().all(|i| matches!(i, Value::Table(_))) =>
                        {
                            for item in items {
                                let Value::Table(t) = item else { continue };
                                let _ = writeln!(sections, "\n[[{key}]]");
                                for (k, v) in t {
                                    if let Some(v) = v.toml() {
                                        let _ =
                                            writeln!(sections, "{} = {v}", toml_key(k.as_str()));
                                    }
                                }
                            }
                        }
                        v => {
                            if let Some(v) = v.toml() {
                                let _ = writeln!(out, "{key} = {v}");
                            }
                        }
                    }
                }
                out + &sections
            }
        }
    }
}

/// The `document` target.
pub struct DocumentTarget {
    defaults: Defaults,
}

/// The format a raw document's first byte picks.
fn raw_format(tag: u8) -> Format {
    match tag % 3 {
        0 => Format::Toml,
        1 => Format::Yaml,
        _ => Format::Json,
    }
}

impl Target for DocumentTarget {
    const NAME: &'static str = "document";
    type Input = Input<Document>;

    fn new() -> Self {
        Self {
            defaults: Defaults {
                org_id: "gss:E07000209".into(),
            },
        }
    }

    fn run(&self, input: Self::Input) {
        let (text, format, name) = match &input {
            Input::Raw(bytes) => {
                let Some((&tag, text)) = bytes.split_first() else {
                    return;
                };
                (
                    String::from_utf8_lossy(text).into_owned(),
                    raw_format(tag),
                    None,
                )
            }
            Input::Built(doc) => (doc.render(), doc.syntax.format(), doc.name()),
        };
        let _ = document::parse(&text, format, name, &self.defaults);
        let _ = document::check(&text, format, &self.defaults);
    }

    fn seeds() -> Vec<(String, Vec<u8>)> {
        let raw = |tag: u8, text: &str| {
            let mut v = vec![tag];
            v.extend_from_slice(text.as_bytes());
            crate::raw(&v)
        };
        let mut seeds = vec![];
        for (stem, toml) in EXAMPLES {
            seeds.push((format!("{stem}.toml"), raw(0, toml)));
        }
        // Two of them as the UK model's YAML and JSON, converted by the reader itself.
        for (stem, toml) in EXAMPLES.into_iter().take(2) {
            if let Ok(tree) = document::parse_tree(toml, Format::Toml) {
                if let Ok(yaml) = serde_norway::to_string(&tree) {
                    seeds.push((format!("{stem}.yaml"), raw(1, &yaml)));
                }
                if let Ok(json) = serde_json::to_string_pretty(&tree) {
                    seeds.push((format!("{stem}.json"), raw(2, &json)));
                }
            }
        }
        seeds
    }
}

/// The example manifests in `examples/manifests/`, by seed name.
const EXAMPLES: [(&str, &str); 6] = [
    (
        "bristol",
        include_str!("../../examples/manifests/bristol-report-a-problem.toml"),
    ),
    (
        "camden",
        include_str!("../../examples/manifests/camden-waste-rounds.toml"),
    ),
    (
        "edinburgh",
        include_str!("../../examples/manifests/edinburgh-bin-collection.toml"),
    ),
    (
        "guildford",
        include_str!("../../examples/manifests/guildford-bin-collection.toml"),
    ),
    (
        "leeds",
        include_str!("../../examples/manifests/leeds-address-lookup.toml"),
    ),
    (
        "manchester",
        include_str!("../../examples/manifests/manchester-parking-zones.toml"),
    ),
];
