//! The DCAT-AP 3 catalogue of a real node, served at `/catalog.jsonld` and written by
//! `lgmesh export dcat`, validated against the official DCAT-AP 3.0.0 SHACL shapes
//! (vendored in `node/tests/dcat/shapes/`) with pyshacl, and against lgmesh's own
//! checks (context embedded, IRIs absolute, one catalogue listing every resource, every
//! linked node typed): `node/tests/dcat/validate.py`.
//!
//! Needs Python with pyshacl (`node/tests/dcat/requirements.txt`, which `.ci/run`
//! installs into `target/dcat-venv`; or name a Python with `LGMESH_DCAT_PYTHON`). Where
//! it is missing the test says that it skipped the validation; where
//! `LGMESH_REQUIRE_PYSHACL` is set (`.ci/run` sets it), it fails instead.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LGMESH_DCAT_PYTHON") {
        return Some(p.into());
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/dcat-venv/bin/python");
    venv.exists().then_some(venv)
}

/// Runs the validator on `file`; its report.
fn validate(python: &Path, file: &Path) -> (bool, String) {
    let out = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dcat/validate.py"))
        .arg("-q")
        .arg(file)
        .output()
        .expect("run validate.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_catalogue_is_valid_dcat_ap_3_and_stands_alone() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let node = Node::start(&dir);
    for f in std::fs::read_dir(examples().join("manifests")).expect("examples") {
        let f = f.expect("entry").path();
        ok(&dir, &["publish", f.to_str().expect("path")]);
    }
    let model = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../protocol/tests/data/ukgov-metadata-model/Dataset/valid/Dataset-os-postcodes-datset.yaml");
    ok(&dir, &["publish", model.to_str().expect("path")]);
    // Edinburgh's example has Guildford's name: published from one key, it is the next
    // version of the same service, so six resources, not seven.
    let served = until("the catalogue to list all six", || {
        let (status, body) = node.http_get("/catalog.jsonld");
        assert!(status.contains(" 200 "), "{status}");
        let v = json(&body);
        let n = v["@graph"]
            .as_array()
            .expect("a graph")
            .iter()
            .filter(|n| {
                matches!(
                    n["@type"].as_str(),
                    Some("dcat:Dataset" | "dcat:DataService")
                )
            })
            .count();
        (n == 6).then_some(v)
    });
    // The context is embedded: no remote document to fetch.
    assert!(served["@context"].is_object(), "{}", served["@context"]);
    // Every dataset and service, with its publisher typed foaf:Agent and named.
    let graph = served["@graph"].as_array().expect("graph");
    let agents: Vec<&serde_json::Value> = graph
        .iter()
        .filter(|n| n["@type"] == "foaf:Agent")
        .collect();
    assert!(
        agents
            .iter()
            .any(|a| a["foaf:name"]["@value"] == "Guildford Borough Council"),
        "{agents:?}"
    );
    // A bad page number is refused with the field.
    let (status, body) = node.http_get("/catalog.jsonld?page=0");
    assert!(
        status.contains(" 400 ") && body.starts_with("page:"),
        "{status} {body}"
    );

    // The CLI writes the same catalogue, all pages merged.
    let file = tmp.path().join("catalog.jsonld");
    ok(
        &dir,
        &["export", "dcat", "--out", file.to_str().expect("path")],
    );
    let exported = json(&std::fs::read_to_string(&file).expect("exported"));
    assert_eq!(
        exported["@graph"].as_array().map(Vec::len),
        served["@graph"].as_array().map(Vec::len)
    );

    let Some(python) = python() else {
        assert!(
            std::env::var_os("LGMESH_REQUIRE_PYSHACL").is_none(),
            "pyshacl is required here but target/dcat-venv is missing"
        );
        eprintln!(
            "SKIPPED: SHACL validation of the DCAT-AP catalogue (no target/dcat-venv; \
             python3 -m venv target/dcat-venv && target/dcat-venv/bin/pip install -r node/tests/dcat/requirements.txt)"
        );
        return;
    };
    let (ok_, report) = validate(&python, &file);
    assert!(
        ok_,
        "the exported catalogue is not valid DCAT-AP 3:\n{report}"
    );
    let served_file = tmp.path().join("served.jsonld");
    std::fs::write(&served_file, served.to_string()).expect("write");
    let (ok_, report) = validate(&python, &served_file);
    assert!(ok_, "/catalog.jsonld is not valid DCAT-AP 3:\n{report}");
    // The validator can fail: the shapes' own negative example is refused.
    let (ok_, report) = validate(
        &python,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dcat/example-invalid.jsonld"),
    );
    assert!(!ok_, "the invalid example passed:\n{report}");
    drop(node);
}
