//! SIGKILL right after `publish` returns loses nothing, and the store opens cleanly.

mod common;

use common::*;

#[test]
fn sigkill_after_publish_loses_nothing() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let node = Node::start(&dir);
    let mut ids = vec![];
    for i in 0..20 {
        let f = tmp.path().join(format!("s{i}.toml"));
        let text =
            std::fs::read_to_string(examples().join("manifests/guildford-bin-collection.toml"))
                .expect("read")
                .replace(
                    "name = \"bin-collection-days\"",
                    &format!("name = \"service-{i}\""),
                );
        std::fs::write(&f, text).expect("write");
        let out = json(&ok(&dir, &["publish", f.to_str().expect("utf8"), "--json"]));
        ids.push(out["id"].as_str().expect("id").to_owned());
    }
    node.kill();
    let _node = Node::start(&dir);
    for id in &ids {
        let m = json(&ok(&dir, &["show", id, "--json"]));
        assert_eq!(m["id"], id.as_str());
    }
    let hits = json(&ok(&dir, &["search", "bin", "--json", "--limit", "100"]));
    assert_eq!(hits["total"], 20, "the index survived too");
}
