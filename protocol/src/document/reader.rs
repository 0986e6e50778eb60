//! Reading one mapping of a document: each field by the model's name, type-checked,
//! with every problem recorded against its field and every unread field refused.

use std::collections::BTreeSet;

use lgmesh_proto::v1;
use serde_json::{Map, Value};

use super::enums::{ACCESS_RIGHTS, COST_MODELS, FREQUENCIES, SECURITY};
use super::{Defaults, name_from_identifier};
use crate::schema::Errors;

/// Reads fields of one mapping, remembering which were used and collecting errors.
pub(super) struct Reader<'a> {
    pub(super) map: &'a Map<String, Value>,
    prefix: String,
    used: BTreeSet<&'a str>,
    errors: &'a mut Errors,
}

impl<'a> Reader<'a> {
    pub(super) fn new(map: &'a Map<String, Value>, prefix: &str, errors: &'a mut Errors) -> Self {
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

    pub(super) fn err(&mut self, key: &str, reason: impl Into<String>) {
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
    pub(super) fn finish(&mut self) {
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

    pub(super) fn opt_str(&mut self, key: &'a str) -> Option<String> {
        let v = self.get(key)?;
        match scalar(v) {
            Some(s) => Some(s.trim().to_owned()),
            None => {
                self.err(key, format!("must be text, got {}", type_name(v)));
                None
            }
        }
    }

    /// Needs named as `did:key:z6Mk…/name`, each refused with its index when it is not.
    pub(super) fn need_refs(&mut self, key: &'a str) -> Vec<v1::NeedRef> {
        let mut out = vec![];
        for (i, s) in self.str_list(key).into_iter().enumerate() {
            let parsed = s.split_once('/').and_then(|(did, name)| {
                let pk = did.parse::<crate::identity::PublisherKey>().ok()?;
                crate::identity::is_slug(name).then(|| v1::NeedRef {
                    publisher: pk.as_bytes().to_vec(),
                    name: name.to_owned(),
                })
            });
            match parsed {
                Some(r) => out.push(r),
                None => self.err(
                    &format!("{key}[{i}]"),
                    format!("{s:?} is not a need: give it as did:key:z6Mk…/name"),
                ),
            }
        }
        out
    }

    pub(super) fn str_list(&mut self, key: &'a str) -> Vec<String> {
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

    pub(super) fn enumeration(
        &mut self,
        key: &'a str,
        table: &[(&str, i32)],
        required: bool,
    ) -> i32 {
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

    pub(super) fn frequency(&mut self, key: &'a str) -> i32 {
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

    pub(super) fn sha256(&mut self, key: &'a str) -> Vec<u8> {
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

    pub(super) fn contact_fields(&mut self) -> v1::ContactPoint {
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

    pub(super) fn common(&mut self, d: &Defaults) -> v1::Catalogued {
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

    pub(super) fn local(&mut self) -> v1::LocalGov {
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
    pub(super) fn distribution_record(
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

    pub(super) fn distributions(&mut self, key: &'a str, licence: &str) -> Vec<v1::Distribution> {
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
