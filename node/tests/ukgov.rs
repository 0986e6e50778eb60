//! `lgmesh export ukgov` against a real node: every record it writes passes the UK
//! metadata model's checks as lgmesh makes them (`lgmesh check`, which runs
//! `document::check`, the code `protocol/tests/ukgov_model.rs` judges the model's own
//! valid/invalid corpus with), and publishes again unchanged: to the same node as no
//! new version, and to a fresh node as manifests with the same records.
//!
//! The catalogue: every example manifest (`examples/manifests/`) and every valid
//! DataService and Dataset record of the model's corpus
//! (`protocol/tests/data/ukgov-metadata-model/`).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use lgmesh_protocol::document::{self, Defaults, Format, RecordClass};

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    out.sort();
    out
}

/// What the node publishes, each with the name to publish it under, if not its own: the
/// examples as they are (Edinburgh's has Guildford's name, so it is version 2 of
/// Guildford's service), and the model's valid records of the two classes a manifest
/// can be, each under a name of its own (two of them share an identifier, and so a
/// name).
fn sources() -> Vec<(PathBuf, Option<String>)> {
    let corpus =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol/tests/data/ukgov-metadata-model");
    let mut out: Vec<_> = files_in(&examples().join("manifests"))
        .into_iter()
        .map(|f| (f, None))
        .collect();
    for class in ["DataService", "Dataset"] {
        for f in files_in(&corpus.join(class).join("valid")) {
            let stem = f.file_stem().and_then(|s| s.to_str()).expect("a name");
            let name = lgmesh_protocol::identity::slugify(stem);
            out.push((f, Some(name)));
        }
    }
    out
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// A Guildford node with every source published.
fn catalogue() -> (tempfile::TempDir, PathBuf, Node) {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let node = Node::start(&dir);
    for (f, name) in sources() {
        match name {
            Some(n) => ok(&dir, &["publish", path(&f), "--name", &n]),
            None => ok(&dir, &["publish", path(&f)]),
        };
    }
    (tmp, dir, node)
}

/// How many live manifests of `kind` the node lists.
fn live(dir: &Path, kind: &str) -> u64 {
    json(&ok(
        dir,
        &["search", "--kind", kind, "--limit", "100", "--json"],
    ))["total"]
        .as_u64()
        .expect("a total")
}

/// `lgmesh export ukgov --out OUT`; the files written, and what it said on stderr.
fn export(dir: &Path, out: &Path) -> (Vec<PathBuf>, String) {
    let o = lgmesh(dir, &["export", "ukgov", "--out", path(out)]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "export failed: {err}");
    (files_in(out), err)
}

/// The manifest name a record publishes under (its `name`).
fn name_of(record: &Path) -> String {
    let text = std::fs::read_to_string(record).expect("read a record");
    let v: serde_json::Value = serde_norway::from_str(&text).expect("YAML");
    v["name"].as_str().expect("a name").to_owned()
}

fn show(dir: &Path, name: &str) -> serde_json::Value {
    json(&ok(dir, &["show", "--json", name]))
}

#[test]
fn every_record_passes_the_models_checks_and_publishes_again_unchanged() {
    let (tmp, dir, node) = catalogue();
    let out = tmp.path().join("records");
    let (files, said) = export(&dir, &out);

    // One record for each live service and dataset, and it says how many.
    let (services, datasets) = (live(&dir, "service"), live(&dir, "dataset"));
    // Five examples (one a second version) and seven of the model's records.
    assert_eq!((services, datasets), (8, 4));
    assert_eq!(files.len() as u64, services + datasets, "{files:?}");
    assert!(
        said.contains(&format!(
            "Wrote {} records ({services} services, {datasets} datasets)",
            files.len()
        )),
        "{said}"
    );
    assert!(!said.contains("warning"), "{said}");

    let me = json(&ok(&dir, &["info", "--json"]))["publisher"]
        .as_str()
        .expect("publisher")
        .to_owned();
    for f in &files {
        let file = f.file_name().and_then(|n| n.to_str()).expect("a name");
        assert!(
            file.starts_with("gss-e07000209--")
                && file.ends_with(".yaml")
                && file.len() <= 100
                && file
                    .trim_end_matches(".yaml")
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{file}"
        );
        let text = std::fs::read_to_string(f).expect("read");

        // The model's checks, as `lgmesh check` makes them...
        let checked = ok(&dir, &["check", path(f)]);
        assert!(
            checked.contains("a valid DataService record")
                || checked.contains("a valid Dataset record"),
            "{checked}"
        );
        // ...and as the corpus test makes them, with nothing filled in by defaults: a
        // record stands alone.
        let class = document::check(&text, Format::Yaml, &Defaults::default());
        assert!(
            matches!(class, Ok(RecordClass::DataService | RecordClass::Dataset)),
            "{file}: {class:?}\n{text}"
        );

        // The first line names the manifest it came from.
        let name = name_of(f);
        let original = show(&dir, &name);
        let version = original["version"].as_u64().expect("version");
        assert_eq!(
            text.lines().next(),
            Some(
                format!(
                    "# lgmesh manifest {} version {version}, published by {me}",
                    original["id"].as_str().expect("id")
                )
                .as_str()
            ),
            "{file}"
        );

        // Published again: no new version.
        let again = ok(&dir, &["publish", path(f)]);
        let kind = original["kind"].as_str().expect("kind");
        assert!(
            again.starts_with(&format!("Unchanged {kind} {name} v{version}:")),
            "{file}: {again}\n{text}"
        );
    }

    // A directory that holds anything is refused, naming it, and left as it was.
    let err = fails(&dir, &["export", "ukgov", "--out", path(&out)]);
    assert!(
        err.contains(path(&out)) && err.contains("not empty"),
        "{err}"
    );
    assert_eq!(files_in(&out), files);
    // A file is not a directory.
    let err = fails(&dir, &["export", "ukgov", "--out", path(&files[0])]);
    assert!(err.contains(path(&files[0])), "{err}");
    // Without --out there is nowhere to write one file per record.
    let err = fails(&dir, &["export", "ukgov"]);
    assert!(err.contains("--out DIR"), "{err}");
    drop(node);
}

#[test]
fn a_fresh_node_publishing_the_records_holds_the_same_ones() {
    let (tmp, dir, node) = catalogue();
    let out = tmp.path().join("records");
    let (files, _) = export(&dir, &out);
    assert!(!files.is_empty());

    let fresh = init_guildford();
    let fresh_dir = fresh.path().join("node");
    let fresh_node = Node::start(&fresh_dir);
    let mut names = BTreeMap::new();
    for f in &files {
        let said = ok(&fresh_dir, &["publish", path(f)]);
        assert!(said.starts_with("Published "), "{said}");
        names.insert(name_of(f), f.clone());
    }
    for (name, f) in &names {
        let (before, after) = (show(&dir, name), show(&fresh_dir, name));
        assert_eq!(
            before["record"],
            after["record"],
            "{}: the record came back different",
            f.display()
        );
        assert_eq!(before["kind"], after["kind"]);
    }
    // Nothing more, nothing less.
    for kind in ["service", "dataset"] {
        assert_eq!(live(&dir, kind), live(&fresh_dir, kind), "{kind}");
    }
    drop((node, fresh_node));
}
