//! Safe store upgrades and backups, with the real binary:
//!
//! - a data dir written by the previous release (`tests/fixtures/store-format-1`, made by
//!   lgmesh at commit 685eff0: see its README) is migrated when the node starts, and
//!   serves everything it held;
//! - `lgmesh backup` copies a running node's store, and `lgmesh restore` makes a new
//!   data dir's store from it, which serves what the node held at that moment;
//! - a damaged backup, a restore over a store, and a restore under a running node are
//!   refused, leaving nothing behind.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

/// Copies the directory `from` to `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

/// The secrets' modes, as `init` makes them (git keeps only the executable bit).
fn private(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    for f in ["publisher.key", "node.key", "admin.token"] {
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }
}

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-format-1")
}

/// The publisher key of the fixture's organisation.
const FIXTURE_KEY: &str = "did:key:z6MkjSnM1RGFGRfnhdpziGKifzQ3dhrBpsZ3KftS7BzbiMzd";
/// The key the fixture's operator trusts for Leeds (`lgmesh trust add`).
const LEEDS_KEY: &str = "did:key:z6MktNA9Sn2SyDtNMVGME12JZmqTwvgJ4fmCtj5iE8h4tEEp";

#[test]
fn a_store_written_by_the_previous_release_is_migrated_and_serves_what_it_held() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("node");
    copy_dir(&fixture(), &dir);
    private(&dir);
    let log = tmp.path().join("run.log");
    let mut node = Node::start_logged(&dir, &[], &log);

    // Every manifest, version and record the old node held. (By show and history,
    // which answer whatever the date: the fixture's manifests expire in time.)
    let stats = json(&ok(&dir, &["stats", "--json"]));
    assert_eq!(stats["manifests"], 7, "{stats}");
    assert_eq!(stats["heads"], 5, "{stats}");
    let history = json(&ok(&dir, &["history", "bin-collection-days", "--json"]));
    let titles: Vec<&str> = history
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["record"]["title"].as_str().expect("title"))
        .collect();
    assert_eq!(
        titles,
        ["Bin collection days (updated)", "Bin collection days"],
        "{history}"
    );
    let retracted = json(&ok(&dir, &["show", "waste-collection-rounds", "--json"]));
    assert_eq!(retracted["retracted"], true, "{retracted}");
    assert_eq!(
        retracted["record"]["reason"],
        "replaced by the new rounds service"
    );
    let need = json(&ok(
        &dir,
        &["show", "bulky-waste-collection-booking", "--json"],
    ));
    assert_eq!(need["kind"], "need", "{need}");
    let trusted = ok(&dir, &["trust", "list", "--json"]);
    assert!(
        trusted.contains(LEEDS_KEY) && trusted.contains(FIXTURE_KEY),
        "{trusted}"
    );
    // Searchable: the old index was not in the fixture, so this one was rebuilt.
    let found = json(&ok(&dir, &["search", "bin", "--include-expired", "--json"]));
    assert_eq!(found["hits"][0]["name"], "bin-collection-days", "{found}");
    // And writable.
    let bins = examples().join("manifests/edinburgh-bin-collection.toml");
    ok(&dir, &["publish", bins.to_str().expect("utf-8")]);
    assert!(node.interrupt().success());
    let text = std::fs::read_to_string(&log).expect("log");
    assert_eq!(
        text.matches("store migrated to the current format").count(),
        1,
        "{text}"
    );
    assert!(text.contains("from=1"), "{text}");

    // Once migrated, a restart migrates nothing.
    let log2 = tmp.path().join("run2.log");
    let mut node = Node::start_logged(&dir, &[], &log2);
    assert_eq!(json(&ok(&dir, &["stats", "--json"]))["manifests"], 8);
    assert!(node.interrupt().success());
    let text = std::fs::read_to_string(&log2).expect("log");
    assert!(!text.contains("store migrated"), "{text}");
}

#[test]
fn a_backup_of_a_running_node_restores_into_a_new_data_dir() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let mut node = Node::start(&dir);
    let manifests = examples().join("manifests");
    for f in ["guildford-bin-collection", "leeds-address-lookup"] {
        let path = manifests.join(format!("{f}.toml"));
        ok(&dir, &["publish", path.to_str().expect("utf-8")]);
    }
    ok(&dir, &["retract", "address-lookup", "--reason", "moved"]);

    // While it runs; relative to where the command runs.
    let file = tmp.path().join("guildford.lgb");
    let out = json(&ok(
        &dir,
        &["backup", file.to_str().expect("utf-8"), "--json"],
    ));
    let records = out["records"].as_u64().expect("records");
    assert!(records > 0, "{out}");
    assert_eq!(
        std::fs::metadata(&file).expect("file").permissions().mode() & 0o777,
        0o600
    );
    // Over TCP, even with the token, the node writes no file: admin socket only.
    let tcp = tmp.path().join("over-tcp.lgb");
    let refused = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            lgmesh_proto::v1::node_client::NodeClient::connect(node.url())
                .await
                .expect("connect")
                .backup(authed(
                    &dir,
                    lgmesh_proto::v1::BackupRequest {
                        path: tcp.to_str().expect("utf-8").to_owned(),
                    },
                ))
                .await
        })
        .expect_err("a backup over TCP");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    assert!(!tcp.exists());
    // Not over a file.
    let err = fails(&dir, &["backup", file.to_str().expect("utf-8")]);
    assert!(err.contains("exists already"), "{err}");
    // After the backup: not in it.
    let later = manifests.join("camden-waste-rounds.toml");
    ok(&dir, &["publish", later.to_str().expect("utf-8")]);
    // Restoring under a running node is refused.
    let err = fails(&dir, &["restore", file.to_str().expect("utf-8")]);
    assert!(err.contains("stop it first"), "{err}");
    assert!(node.interrupt().success());
    // With the node stopped, a backup is made from the data dir.
    let offline = tmp.path().join("offline.lgb");
    let out2 = json(&ok(
        &dir,
        &["backup", offline.to_str().expect("utf-8"), "--json"],
    ));
    assert!(out2["records"].as_u64().expect("records") > records);

    // A new machine: the keys and config (backed up apart), then the store.
    let new = tmp.path().join("restored");
    std::fs::create_dir_all(&new).expect("mkdir");
    for f in ["lgmesh.toml", "publisher.key", "node.key", "admin.token"] {
        std::fs::copy(dir.join(f), new.join(f)).expect("copy");
    }
    private(&new);
    // A damaged copy first: refused, and nothing is left behind.
    let mut bytes = std::fs::read(&file).expect("read");
    let i = bytes.len() / 2;
    bytes[i] ^= 0x40;
    let damaged = tmp.path().join("damaged.lgb");
    std::fs::write(&damaged, &bytes).expect("write");
    let err = fails(&new, &["restore", damaged.to_str().expect("utf-8")]);
    assert!(
        err.contains("damaged") || err.contains("not a usable"),
        "{err}"
    );
    assert!(!new.join("store").join("db").exists());
    // What a killed node and a store moved aside leave: a dead socket, and the old
    // search index (here the running node's, which knows a manifest the backup lacks).
    std::fs::write(new.join("admin.sock"), "").expect("write");
    copy_dir(&dir.join("store/text-v5"), &new.join("store/text-v5"));
    let restored = json(&ok(
        &new,
        &["restore", file.to_str().expect("utf-8"), "--json"],
    ));
    assert_eq!(restored["records"], records, "{restored}");
    // Over a store: refused.
    let err = fails(&new, &["restore", file.to_str().expect("utf-8")]);
    assert!(err.contains("exists already"), "{err}");

    let mut node = Node::start(&new);
    let found = json(&ok(&new, &["search", "--include-retracted", "--json"]));
    let mut names: Vec<&str> = found["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["name"].as_str().expect("name"))
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["address-lookup", "bin-collection-days", "org"],
        "{found}"
    );
    let gone = json(&ok(&new, &["show", "address-lookup", "--json"]));
    assert_eq!(gone["retracted"], true);
    // And it goes on from there: the next version of a name follows the restored one.
    let text = std::fs::read_to_string(manifests.join("guildford-bin-collection.toml"))
        .expect("manifest")
        .replacen("title = \"", "title = \"Updated: ", 1);
    let bins = tmp.path().join("bins.toml");
    std::fs::write(&bins, text).expect("write");
    let again = json(&ok(
        &new,
        &["publish", bins.to_str().expect("utf-8"), "--json"],
    ));
    assert_eq!(again["outcome"], "OUTCOME_STORED", "{again}");
    assert_eq!(again["version"], 2, "{again}");
    assert!(node.interrupt().success());
}
