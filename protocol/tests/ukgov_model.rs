//! Every `valid/` record of the UK Cross-Government Metadata Exchange Model is accepted,
//! and every `invalid/` one is refused with a reason that names a field.
//! The records are copied from `shared/data/ukgov-metadata-model` (OGL v3).

use std::path::{Path, PathBuf};

use lgmesh_protocol::document::{self, Defaults, DocumentError, Format, RecordClass};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ukgov-metadata-model")
}

fn records(class: &str, validity: &str) -> Vec<(String, String)> {
    let d = dir().join(class).join(validity);
    let mut out: Vec<_> = std::fs::read_dir(&d)
        .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
        .map(|e| {
            let p = e.expect("dir entry").path();
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).expect("read record"),
            )
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no records in {}", d.display());
    out
}

const CLASSES: &[(&str, RecordClass)] = &[
    ("DataService", RecordClass::DataService),
    ("Dataset", RecordClass::Dataset),
    ("Distribution", RecordClass::Distribution),
    ("ContactPoint", RecordClass::ContactPoint),
];

#[test]
fn every_valid_record_is_accepted() {
    let defaults = Defaults {
        org_id: "gss:E07000209".into(),
    };
    for (class, expected) in CLASSES {
        for (path, text) in records(class, "valid") {
            let got = document::check(&text, Format::Yaml, &defaults);
            assert_eq!(got, Ok(*expected), "{path}");
            if matches!(expected, RecordClass::DataService | RecordClass::Dataset) {
                let parsed = document::parse(&text, Format::Yaml, None, &defaults)
                    .unwrap_or_else(|e| panic!("{path}: {e}"));
                assert!(!parsed.name.is_empty());
            }
        }
    }
}

#[test]
fn every_invalid_record_is_refused_naming_a_field() {
    let defaults = Defaults {
        org_id: "gss:E07000209".into(),
    };
    for (class, _) in CLASSES {
        for (path, text) in records(class, "invalid") {
            match document::check(&text, Format::Yaml, &defaults) {
                Ok(c) => panic!("{path} was accepted as {c:?}"),
                Err(e @ DocumentError::Fields(_)) => {
                    let field = e.first_field().expect("a field is named");
                    assert!(!field.is_empty(), "{path}: {e}");
                    eprintln!("{path}: {e}");
                }
                Err(e) => panic!("{path}: refused without naming a field: {e}"),
            }
        }
    }
}

/// The specific reason each invalid record was written to show.
#[test]
fn invalid_records_name_the_field_they_break() {
    let defaults = Defaults::default();
    let expect = [
        (
            "DataService/invalid/invalid-serviceStatus.yaml",
            "serviceStatus",
        ),
        (
            "DataService/invalid/invalid-access-right.yaml",
            "accessRights",
        ),
        (
            "DataService/invalid/invalid-security-classification.yaml",
            "securityClassification",
        ),
        (
            "DataService/invalid/missing-security-classification.yaml",
            "securityClassification",
        ),
        (
            "DataService/invalid/invalid-datetime-format.yaml",
            "modified",
        ),
        (
            "DataService/invalid/dwp-address-lookup.yaml",
            "contactPoint",
        ),
        ("Dataset/invalid/invalid-type.yaml", "type"),
        ("Dataset/invalid/missing-frequency.yaml", "updateFrequency"),
        ("Dataset/invalid/invalid-frequency.yaml", "updateFrequency"),
        (
            "Dataset/invalid/invalid-distribution.yaml",
            "distribution[0]",
        ),
        (
            "Distribution/invalid/invalid-mediatype-csv.yaml",
            "mediaType",
        ),
        (
            "Distribution/invalid/invalid-mediatype-uri.yaml",
            "mediaType",
        ),
        (
            "Distribution/invalid/os-postcodes-csv-distribution.yaml",
            "type",
        ),
        (
            "ContactPoint/invalid/missing-contact-name.yaml",
            "contactName",
        ),
    ];
    for (rel, field) in expect {
        let text = std::fs::read_to_string(dir().join(rel)).expect("read");
        let err = document::check(&text, Format::Yaml, &defaults)
            .expect_err(rel)
            .to_string();
        assert!(err.contains(field), "{rel}: expected {field} in {err:?}");
    }
}

#[test]
fn the_same_record_as_json_and_toml() {
    let defaults = Defaults {
        org_id: "gss:E07000209".into(),
    };
    let yaml = std::fs::read_to_string(
        dir().join("DataService/valid/DataService-fsa-food-alertsservice.yaml"),
    )
    .expect("read");
    let tree = document::parse_tree(&yaml, Format::Yaml).expect("yaml");
    let json = serde_json::to_string(&tree).expect("json");
    let a = document::parse(&yaml, Format::Yaml, None, &defaults).expect("yaml parses");
    let b = document::parse(&json, Format::Json, None, &defaults).expect("json parses");
    assert_eq!(a, b);
    assert_eq!(a.name, "food-alerts");
}

#[test]
fn yaml_alias_bomb_fails_fast() {
    let mut s = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let mut prev = 'a';
    for c in 'b'..='i' {
        s.push_str(&format!(
            "{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
        prev = c;
    }
    let t = std::time::Instant::now();
    let r = document::parse_tree(&s, Format::Yaml);
    assert!(r.is_err(), "a billion-laughs document must be refused");
    // Not a timing assertion on speed, only a guard that it did not expand 9^9 nodes.
    assert!(t.elapsed().as_secs() < 30);
}

#[test]
fn oversized_document_is_refused_before_parsing() {
    let s = "a".repeat(document::MAX_DOCUMENT_BYTES + 1);
    assert!(matches!(
        document::parse_tree(&s, Format::Toml),
        Err(DocumentError::TooLarge(_))
    ));
}
