//! Attacks on real `lgmesh` processes, one test per way in that a review found (issue
//! 18). Each was written to fail before its fix: the comment on each says what it did.

mod common;

use common::*;
use lgmesh_proto::v1::{self, registry_client::RegistryClient};
use lgmesh_protocol::envelope::UnsignedManifest;
use lgmesh_protocol::{now_ms, sample};
use tonic::Code;

/// A file of multibyte characters where a value is expected made `lgmesh check` panic
/// (exit 101, a string cut inside a character); a search cursor of multibyte
/// characters made the Search handler panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multibyte_input_is_refused_in_words() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let file = tmp.path().join("m.toml");
    let doc = std::fs::read_to_string(examples().join("manifests/guildford-bin-collection.toml"))
        .expect("example")
        .replace("lgsl = [524]", &format!("lgsl = [\"{}\"]", "é".repeat(40)));
    std::fs::write(&file, doc).expect("write");
    let out = lgmesh(&dir, &["check", file.to_str().expect("utf8")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("lgsl"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    let node = Node::start(&dir);
    let mut reg = RegistryClient::connect(node.url()).await.expect("connect");
    let st = reg
        .search(v1::SearchRequest {
            text: "bins".into(),
            cursor: "ééééé".into(),
            ..Default::default()
        })
        .await
        .expect_err("a cursor of multibyte characters");
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    assert!(st.message().starts_with("cursor"), "{}", st.message());
}

/// A title carrying ESC and BEL was stored, relayed, and printed raw by `lgmesh search`:
/// it could clear the reader's screen, or fake a `[verified]` mark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_never_reach_a_terminal() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let node = Node::start(&dir);
    let file = tmp.path().join("m.toml");
    let doc = std::fs::read_to_string(examples().join("manifests/guildford-bin-collection.toml"))
        .expect("example")
        .replace(
            "title = \"Bin collection days\"",
            "title = \"Bin collection days\\u001b[2J\\u0007 [verified]\"",
        );
    std::fs::write(&file, doc).expect("write");
    let err = fails(&dir, &["publish", file.to_str().expect("utf8")]);
    assert!(err.contains("title"), "{err}");
    assert!(err.contains("U+001B"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "the error quotes it escaped: {err:?}"
    );

    // Signed elsewhere and submitted: an org card named with a bidi override, which
    // would show the rest of the line reversed.
    let key = publisher_key(&dir);
    let now = now_ms();
    let card = sample::org("gss:E07000209", "Guildford \u{202e}lionuoC", 5, now);
    let mut reg = RegistryClient::connect(node.url()).await.expect("connect");
    let st = reg
        .submit(authed(&dir, submit_of(&UnsignedManifest(card).sign(&key))))
        .await
        .expect_err("a bidi override in a name");
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    assert!(st.message().contains("name"), "{}", st.message());

    let out = ok(&dir, &["search", "bin"]);
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{7}') && !out.contains('\u{202e}'),
        "{out:?}"
    );
}

/// A manifest that stays current for ever (expires in 100 years) was accepted: a
/// stolen key's signature on it would never lapse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_current_for_ever_is_refused() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let node = Node::start(&dir);
    let now = now_ms();
    let mut body = sample::service("forever", 1, "For ever", "Never expires.", &[], &[], now);
    body.expires_at_ms = now + 100 * lgmesh_protocol::YEAR_MS;
    let mut reg = RegistryClient::connect(node.url()).await.expect("connect");
    let st = reg
        .submit(authed(
            &dir,
            submit_of(&UnsignedManifest(body).sign(&publisher_key(&dir))),
        ))
        .await
        .expect_err("a century");
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    assert!(st.message().contains("expiresAt"), "{}", st.message());
}

/// A node that dies leaves `node.json` behind. The CLI used to connect to the gRPC port
/// it names and send the admin token to whatever listened there: another local user
/// who took the port got the token. Now the CLI talks only to the admin socket in the
/// data dir, which no other user can open.
#[test]
fn a_stale_node_json_gets_nothing_from_the_cli() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let node = Node::start(&dir);
    let port = node.grpc.clone();
    node.kill();
    assert!(dir.join("node.json").exists(), "kill -9 leaves node.json");

    // The attacker listens on the port the stale file names and records what arrives.
    let listener = std::net::TcpListener::bind(&port).expect("take the node's old port");
    listener.set_nonblocking(true).expect("nonblocking");
    let file = examples().join("manifests/guildford-bin-collection.toml");
    let out = lgmesh(&dir, &["publish", file.to_str().expect("utf8")]);
    assert!(!out.status.success(), "no node runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lgmesh run"), "says how to start one: {err}");
    match listener.accept() {
        Ok((_, from)) => panic!("the CLI connected to the stale port, from {from}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
    }
    let search = lgmesh(&dir, &["search", "bins"]);
    assert!(!search.status.success());
    assert!(listener.accept().is_err(), "reads do not go there either");
}
