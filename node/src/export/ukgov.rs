//! Records of the UK Cross-Government Metadata Exchange Model, as `lgmesh export ukgov`
//! writes them: one YAML file per live service (`dcat:DataService`) and dataset
//! (`dcat:Dataset`), each one a record that `lgmesh check` accepts and that
//! `lgmesh publish` reads back as the content it came from.
//!
//! A record is [`view::record`] of the manifest's body, field for field: the model's
//! names (`identifier`, `title`, `contactPoint.contactName`, `serviceStatus`, …) and its
//! enumeration labels (`OPEN`, `OFFICIAL`, `LIVE`, `freq:monthly`), with empty fields
//! left out. To that, this module adds the manifest's `name`, so that publishing the
//! file again updates the same manifest rather than one named after the identifier.
//!
//! Some fields are lgmesh's extensions to the model, which the model's own schema does
//! not define but lgmesh's reader (`lgmesh check`, `lgmesh publish`) takes:
//! `name`; `lgsl` (LGSL service codes), `coverage` (GSS area codes), `standards`,
//! `sourceRepository` and `costModel` (the local-government fields); a service's
//! `endpointDescriptionSha256` and `answers` (the needs it answers); a dataset's
//! `conformsTo`, `temporalStart` and `temporalEnd`; a distribution's `sha256`.
//!
//! What a record leaves out is lgmesh's envelope: the publisher's key, the version,
//! the signature, and the issue and expiry times. A record is what a person writes;
//! publishing it signs a new envelope. The comment on a file's first line names the
//! manifest it came from (YAML readers ignore comments).

use std::cmp::Ordering;

use lgmesh_protocol::document::{self, Content, Defaults, Format};
use lgmesh_protocol::envelope::ManifestId;
use lgmesh_protocol::identity::{PublisherKey, slugify};
use lgmesh_protocol::v1::{self, manifest_body::Kind};
use serde_json::Value;
use serde_norway::{Mapping, Value as Yaml};
use sha2::{Digest, Sha256};

use crate::view;

/// Where a record came from, for the comment at the top of its file.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The publisher's key.
    pub publisher: &'a PublisherKey,
    /// The manifest's id.
    pub id: &'a ManifestId,
}

/// Why a record could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The body is not a service or dataset: the model has no record for it.
    #[error("not a service or dataset")]
    NotARecord,
    /// The YAML writer refused the record.
    #[error("cannot write the record as YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
}

/// The order of fields in a record, for people reading it: the class and name, then the
/// model's order of the fields every resource has, then a class's own, then lgmesh's
/// extensions. Nested records (contact points, distributions) use the same order.
/// Fields not named here follow, by name.
const ORDER: &[&str] = &[
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
    "contactName",
    "email",
    "telephone",
    "address",
    "relatedResource",
    "serviceType",
    "serviceStatus",
    "endpointURL",
    "endpointDescription",
    "endpointDescriptionSha256",
    "servesData",
    "answers",
    "updateFrequency",
    "distribution",
    "downloadURL",
    "mediaType",
    "byteSize",
    "sha256",
    "accessService",
    "conformsTo",
    "temporalStart",
    "temporalEnd",
    "lgsl",
    "coverage",
    "standards",
    "sourceRepository",
    "costModel",
];

fn field_order(a: &str, b: &str) -> Ordering {
    let rank = |k: &str| ORDER.iter().position(|o| *o == k).unwrap_or(ORDER.len());
    rank(a).cmp(&rank(b)).then_with(|| a.cmp(b))
}

/// `v` as YAML, each mapping's keys in [`ORDER`].
fn ordered(v: &Value) -> Result<Yaml, serde_norway::Error> {
    Ok(match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| field_order(a, b));
            let mut out = Mapping::with_capacity(keys.len());
            for k in keys {
                out.insert(Yaml::String(k.clone()), ordered(&m[k])?);
            }
            Yaml::Mapping(out)
        }
        Value::Array(items) => Yaml::Sequence(items.iter().map(ordered).collect::<Result<_, _>>()?),
        other => serde_norway::to_value(other)?,
    })
}

/// The record of a service or dataset, ready to be published again: [`view::record`]
/// with the manifest's `name`. `None` for every other kind.
pub fn record(body: &v1::ManifestBody) -> Option<Value> {
    if !matches!(body.kind, Some(Kind::Service(_) | Kind::Dataset(_))) {
        return None;
    }
    let mut r = view::record(body);
    let map = r.as_object_mut()?;
    map.insert("name".into(), Value::String(body.name.clone()));
    Some(r)
}

/// The YAML file for one manifest: a comment naming its source, then the record.
pub fn to_yaml(source: Source<'_>, body: &v1::ManifestBody) -> Result<String, RecordError> {
    let r = record(body).ok_or(RecordError::NotARecord)?;
    let yaml = serde_norway::to_string(&ordered(&r)?)?;
    // Both are printed from parsed values, so the comment cannot hold a line break.
    Ok(format!(
        "# lgmesh manifest {} version {}, published by {}\n{yaml}",
        source.id, body.version, source.publisher
    ))
}

/// Whether `yaml` reads back ([`document::parse`], as `lgmesh publish` reads it) as
/// exactly `body`'s name and content, so that publishing it again changes nothing.
/// The error names the first field that would come back different, or why the record
/// would be refused.
pub fn reads_back(yaml: &str, body: &v1::ManifestBody) -> Result<(), String> {
    // A record names its publisher and creators, so no default fills anything in.
    let parsed = document::parse(yaml, Format::Yaml, None, &Defaults::default())
        .map_err(|e| e.to_string())?;
    if parsed.name != body.name {
        return Err(format!("name: reads back as {:?}", parsed.name));
    }
    let kind = match parsed.content {
        Content::Service(s) => Kind::Service(s),
        Content::Dataset(d) => Kind::Dataset(d),
    };
    if body.kind.as_ref() == Some(&kind) {
        return Ok(());
    }
    let again = v1::ManifestBody {
        kind: Some(kind),
        ..body.clone()
    };
    let (before, after) = (view::record(body), view::record(&again));
    let field = match (before.as_object(), after.as_object()) {
        (Some(b), Some(a)) => b
            .keys()
            .chain(a.keys())
            .find(|k| b.get(*k) != a.get(*k))
            .cloned(),
        _ => None,
    };
    Err(format!(
        "{}: reads back different",
        field
            .as_deref()
            .unwrap_or("a field the record does not show")
    ))
}

/// Longest organisation (or key) part of a file name, in bytes.
const ORG_PART: usize = 24;
/// Longest name part of a file name, in bytes.
const NAME_PART: usize = 48;
/// Hex digits of the hash in a file name (40 bits).
const HASH_PART: usize = 10;

/// `s` as `[a-z0-9-]`, at most `max` bytes, not starting or ending with `-`; `empty`
/// when nothing is left.
fn slug_part(s: &str, max: usize, empty: &str) -> String {
    let mut s = slugify(s);
    s.truncate(max);
    let s = s.trim_matches('-');
    if s.is_empty() {
        empty.to_owned()
    } else {
        s.to_owned()
    }
}

/// The file name of one record: `<org>--<name>--<hash>.yaml`, for example
/// `gss-e07000209--bin-collection-days--3f2a9c1b0d.yaml`.
///
/// `<org>` is the organisation's id from the publisher's org card (`org_id`), or the
/// publisher's key where there is none; `<hash>` is the start of the SHA-256 of the
/// publisher's key and the whole manifest name, which are what make a record one of its
/// own: two records share a file name only if 40 bits of SHA-256 collide, even when
/// their organisation and name are the same or are cut short (and `lgmesh export`
/// refuses then rather than overwrite). Whatever the inputs, the name is only
/// `[a-z0-9-]` and `.yaml`, never starts with `-` or `.`, and is at most 91 bytes.
pub fn file_name(org_id: &str, publisher: &str, name: &str) -> String {
    let org = if org_id.trim().is_empty() {
        let key = publisher.strip_prefix("did:key:").unwrap_or(publisher);
        format!("key-{}", slug_part(key, ORG_PART - 4, "unknown"))
    } else {
        slug_part(org_id, ORG_PART, "org")
    };
    // The publisher's length first, so that no other split of the same bytes into a
    // publisher and a name hashes the same.
    let mut h = Sha256::new();
    h.update((publisher.len() as u64).to_be_bytes());
    h.update(publisher.as_bytes());
    h.update(name.as_bytes());
    let hash = hex::encode(h.finalize());
    format!(
        "{org}--{}--{}.yaml",
        slug_part(name, NAME_PART, "record"),
        &hash[..HASH_PART]
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Guildford's bin service (`sample::service`), with these words and version.
    fn service(description: &str, keywords: &[&str], version: &str) -> v1::ManifestBody {
        let mut body = lgmesh_protocol::sample::service(
            "bin-collection-days",
            3,
            "Bin collection days",
            description,
            &[524],
            &["E07000209"],
            1_795_786_213_000,
        );
        if let Some(Kind::Service(s)) = &mut body.kind
            && let Some(c) = &mut s.common
        {
            c.keyword = keywords.iter().map(|k| (*k).to_owned()).collect();
            c.version = version.into();
            c.issued = "2023-04-03".into();
        }
        body
    }

    fn source_of(f: impl FnOnce(Source<'_>) -> String) -> String {
        let key = lgmesh_protocol::identity::SecretKey::from_seed(&[7; 32]).public();
        let id = ManifestId::of(b"body");
        f(Source {
            publisher: &key,
            id: &id,
        })
    }

    fn yaml_of(body: &v1::ManifestBody) -> String {
        source_of(|s| to_yaml(s, body).expect("yaml"))
    }

    #[test]
    fn a_record_starts_with_a_comment_naming_its_source_then_type_and_name() {
        let y = yaml_of(&service("Collection days.", &["bins"], "1.4.0"));
        let mut lines = y.lines();
        let first = lines.next().expect("a first line");
        assert!(
            first.starts_with("# lgmesh manifest ")
                && first.contains(" version 3, published by did:key:z6Mk"),
            "{first}"
        );
        assert_eq!(lines.next(), Some("type: dcat:DataService"));
        assert_eq!(lines.next(), Some("name: bin-collection-days"));
        assert_eq!(
            reads_back(&y, &service("Collection days.", &["bins"], "1.4.0")),
            Ok(())
        );
    }

    #[test]
    fn text_that_yaml_would_read_as_something_else_reads_back_as_it_was() {
        let long = "A line well over eighty characters with  two  spaces  in places, \
                    so that a writer that folds long lines must fold it without losing any.";
        let descriptions = [
            "yes",
            "1.10",
            "null",
            "~",
            "true",
            "2024-01-01",
            "- not a list",
            "# not a comment",
            "key: not a mapping",
            "'single' and \"double\" quotes",
            "!tag, &anchor and *alias",
            long,
            "Two lines\nof text",
            "Indented lines:\n    four spaces\n\ttab\n\nand a blank line",
            "Trailing spaces on a line   \nand a line of spaces only\n   \nthen more",
            "Unicode: Caerdydd, Ynys Môn, naïve café, “quotes” — and 日本語",
            "A line ending in a backslash \\\nand a colon:",
            "Windows\r\nline breaks\r\n\r\nand a lone\rcarriage return",
        ];
        let versions = ["1.0", "010", "0x1F", "1e3", "2023-02", "v1.0 (Beta)", "no"];
        for d in descriptions {
            for v in versions {
                let body = service(d, &["yes", "on", "123", "1.5", "null"], v);
                let y = yaml_of(&body);
                assert_eq!(reads_back(&y, &body), Ok(()), "{y}");
            }
        }
    }

    #[test]
    fn a_dataset_with_distributions_reads_back_as_it_was() {
        let mut body = service("Rounds.", &[], "2");
        let Some(Kind::Service(s)) = body.kind.take() else {
            panic!("a service")
        };
        body.kind = Some(Kind::Dataset(v1::Dataset {
            common: s.common,
            local: s.local,
            update_frequency: 8,
            distribution: vec![v1::Distribution {
                identifier: "https://example.gov.uk/rounds.csv".into(),
                title: "Rounds".into(),
                download_url: "https://example.gov.uk/rounds.csv".into(),
                media_type: "text/csv".into(),
                byte_size: 12_345,
                sha256: vec![0xab; 32],
                licence:
                    "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"
                        .into(),
                ..Default::default()
            }],
            conforms_to: vec!["https://www.openreferraluk.org/".into()],
            temporal_start: "2024-01-01".into(),
            ..Default::default()
        }));
        let y = yaml_of(&body);
        assert!(y.contains("type: dcat:Dataset"), "{y}");
        assert!(y.contains("updateFrequency: freq:monthly"), "{y}");
        assert_eq!(reads_back(&y, &body), Ok(()), "{y}");
    }

    #[test]
    fn a_service_that_answers_needs_reads_back_as_it_was() {
        let mut body = service("Collection days.", &["bins"], "1.4.0");
        let Some(Kind::Service(s)) = &mut body.kind else {
            panic!("a service")
        };
        let poster = lgmesh_protocol::identity::SecretKey::from_seed(&[9; 32]).public();
        s.answers = vec![v1::NeedRef {
            publisher: poster.as_bytes().to_vec(),
            name: "bulky-waste-collection-booking".into(),
        }];
        let y = yaml_of(&body);
        assert!(
            y.contains(&format!("- {poster}/bulky-waste-collection-booking")),
            "{y}"
        );
        assert_eq!(reads_back(&y, &body), Ok(()), "{y}");
    }

    #[test]
    fn a_change_is_named_by_its_field() {
        let body = service("Collection days.", &["bins"], "1.4.0");
        let y = yaml_of(&body).replace("version: 1.4.0", "version: 1.4.1");
        assert_eq!(
            reads_back(&y, &body),
            Err("version: reads back different".into())
        );
    }

    #[test]
    fn only_services_and_datasets_are_records() {
        let body = v1::ManifestBody {
            name: "org".into(),
            kind: Some(Kind::Retraction(v1::Retraction {
                reason: "gone".into(),
            })),
            ..Default::default()
        };
        assert!(record(&body).is_none());
        let err = source_of(|s| match to_yaml(s, &body) {
            Ok(y) => panic!("a retraction became a record: {y}"),
            Err(e) => e.to_string(),
        });
        assert_eq!(err, "not a service or dataset");
    }

    fn odd_strings() -> Vec<String> {
        let mut v: Vec<String> = [
            "",
            ".",
            "..",
            "../../etc/passwd",
            "/",
            "/etc/passwd",
            "a/b",
            "a\\b",
            "..\\..\\windows",
            "-",
            "--",
            "-rf",
            ".yaml",
            "name.yaml",
            ".hidden",
            "a\0b",
            "line\nbreak",
            "tab\there",
            "   ",
            "ÄÖÜ",
            "日本語",
            "\u{202e}evil",
            "gss:E07000209",
            "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
            "bin-collection-days",
            "CON",
            "nul",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        v.push("a".repeat(1000));
        v.push("../".repeat(200));
        v.push("é".repeat(300));
        v.push(format!("{}x", "-".repeat(100)));
        v.push(format!("{}-{}", "a".repeat(47), "b".repeat(100)));
        v
    }

    #[test]
    fn a_file_name_is_safe_for_any_input() {
        let odd = odd_strings();
        let mut seen = BTreeSet::new();
        for org in &odd {
            for publisher in &odd {
                for name in &odd {
                    let f = file_name(org, publisher, name);
                    let stem = f.strip_suffix(".yaml").expect("ends .yaml");
                    assert!(
                        !stem.is_empty()
                            && stem
                                .bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                        "{f:?} from {org:?} {publisher:?} {name:?}"
                    );
                    assert!(!f.starts_with('-') && !f.starts_with('.'), "{f:?}");
                    assert!(
                        !f.contains('/') && !f.contains("..") && !f.contains('\\'),
                        "{f:?}"
                    );
                    assert!(f.len() <= 91, "{} bytes: {f:?}", f.len());
                    assert_eq!(f, file_name(org, publisher, name), "deterministic");
                    if org.is_empty() || org == "gss:E07000209" {
                        seen.insert((org.clone(), f));
                    }
                }
            }
        }
        // Every (publisher, name) pair of one organisation has a name of its own.
        let per_org = odd.len() * odd.len();
        assert_eq!(seen.len(), 2 * per_org);
    }

    #[test]
    fn a_file_name_reads_as_organisation_and_name() {
        let f = file_name(
            "gss:E07000209",
            "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
            "bin-collection-days",
        );
        assert!(f.starts_with("gss-e07000209--bin-collection-days--"), "{f}");
        let f = file_name(
            "",
            "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
            "bin-collection-days",
        );
        assert!(
            f.starts_with("key-z6mkhaxgbzdvotdkl525--bin-collection-days--"),
            "{f}"
        );
    }
}
