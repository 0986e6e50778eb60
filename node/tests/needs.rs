//! Needs answered, between two real councils: Guildford posts a need; Leeds publishes a
//! service that says, signed, that it answers it, and Guildford adopts that service
//! saying the same. Guildford's `watch --answers mine` hears of both as they arrive, the need
//! lists its answers (`show`, search, and the web page), and a bad claim is refused
//! with the field.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn init(dir: &std::path::Path, org: &str, name: &str) {
    ok(
        dir,
        &["init", "--org", org, "--name", name, "--type", "district"],
    );
}

fn publisher(dir: &std::path::Path) -> String {
    json(&ok(dir, &["info", "--json"]))["publisher"]
        .as_str()
        .expect("publisher")
        .to_owned()
}

#[test]
fn a_need_hears_of_its_answers_and_lists_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (g, l) = (tmp.path().join("guildford"), tmp.path().join("leeds"));
    init(&g, "gss:E07000209", "Guildford Borough Council");
    init(&l, "gss:E08000035", "Leeds City Council");
    let ng = Node::start(&g);
    let _nl = Node::start_with(&l, &["--bootstrap", &listen_addr(&g)]);
    let said = ok(
        &g,
        &[
            "need",
            "--lgsl",
            "863",
            "--name",
            "bulky-waste",
            "Bulky waste collection booking",
        ],
    );
    assert!(said.contains("bulky-waste"), "{said}");
    let need = format!("{}/bulky-waste", publisher(&g));
    until("Leeds holds Guildford's need", || {
        ok(&l, &["search", "--kind", "need", "--json"])
            .contains("Bulky waste collection booking")
            .then_some(())
    });

    // The poster watches for answers to any of its needs.
    let (_watch, rx) = Reaped::reading(
        Command::new(BIN)
            .args(["watch", "--json", "--answers", "mine"])
            .arg("--data-dir")
            .arg(&g),
    );
    std::thread::sleep(Duration::from_millis(500));

    // Leeds answers it with a service of its own, signed.
    let file = tmp.path().join("bulky.toml");
    let text = std::fs::read_to_string(examples().join("manifests/leeds-address-lookup.toml"))
        .expect("example")
        .replace("title = \"", "title = \"Bulky waste booking: ")
        .replacen("\n", &format!("\nanswers = [\"{need}\"]\n"), 1);
    std::fs::write(&file, text).expect("write");
    ok(
        &l,
        &[
            "publish",
            file.to_str().expect("path"),
            "--name",
            "bulky-booking",
        ],
    );

    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the poster's watch printed the answer");
    let seen = json(&line);
    assert_eq!(seen["orgName"], "Leeds City Council", "{line}");
    assert_eq!(seen["record"]["answers"][0], need.as_str(), "{line}");

    // Guildford adopts Leeds's service, saying that this answers its need.
    let service = format!("{}/bulky-booking", publisher(&l));
    until("Guildford holds Leeds's service", || {
        ok(&g, &["search", "--kind", "service", "--json"])
            .contains("Bulky waste booking")
            .then_some(())
    });
    ok(&g, &["adopt", &service, "--answers", &need]);
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the poster's watch printed the adoption");
    assert_eq!(json(&line)["kind"], "adoption", "{line}");

    // The need lists both answers, on any node.
    for dir in [&g, &l] {
        let shown = until("the need lists its two answers", || {
            let v = json(&ok(dir, &["show", &need, "--json"]));
            (v["answers"].as_array().map(Vec::len) == Some(2)).then_some(v)
        });
        let kinds: Vec<&str> = shown["answers"]
            .as_array()
            .expect("answers")
            .iter()
            .filter_map(|a| a["kind"].as_str())
            .collect();
        assert!(
            kinds.contains(&"service") && kinds.contains(&"adoption"),
            "{shown}"
        );
    }
    let text = ok(&g, &["show", &need]);
    assert!(
        text.contains("answered by") && text.contains("Leeds City Council"),
        "{text}"
    );
    // Search finds the answers by the need, or by its poster.
    let found = json(&ok(&l, &["search", "--answers", &need, "--json"]));
    assert_eq!(found["total"], 2, "{found}");
    // The need's web page shows them.
    let id = json(&ok(&g, &["show", &need, "--json"]))["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, page) = ng.http_get(&format!("/manifests/{id}"));
    assert!(status.contains(" 200 "), "{status}");
    assert!(page.contains("Bulky waste booking: "), "{page}");

    // A claim that is not a need is refused, naming the field.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&file)
            .expect("read")
            .replace(&need, "bulky-waste"),
    )
    .expect("write");
    let err = fails(
        &l,
        &["publish", bad.to_str().expect("path"), "--name", "bad"],
    );
    assert!(err.contains("answers[0]"), "{err}");
    let err = fails(&g, &["adopt", &service, "--answers", "nonsense"]);
    assert!(err.contains("answers[0]"), "{err}");
    let err = fails(&g, &["search", "--answers", "nonsense/x"]);
    assert!(err.contains("answers:"), "{err}");
}
