//! Every bad input gets a clear error naming the field, and leaves the store unchanged.

mod common;

use common::*;
use lgmesh_proto::v1::{self, node_client::NodeClient, registry_client::RegistryClient};
use lgmesh_protocol::envelope::UnsignedManifest;
use lgmesh_protocol::{now_ms, sample};
use tonic::Code;

const GOOD: &str = r#"
kind = "service"
name = "pothole-reporting"
identifier = "https://www.guildford.gov.uk/potholes"
title = "Report a pothole"
description = "Report a pothole on a road or pavement."
licence = "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"
accessRights = "OPEN"
securityClassification = "OFFICIAL"
serviceType = "REST"
serviceStatus = "LIVE"
version = "1.0"
modified = "2026-11-01"
endpointDescription = "https://www.guildford.gov.uk/potholes/openapi.json"
lgsl = [549]
coverage = ["E07000209"]
[contactPoint]
contactName = "Highways"
email = "highways@guildford.gov.uk"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_nothing_changes() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let node = Node::start(&dir);
    let file = tmp.path().join("m.toml");
    std::fs::write(&file, GOOD).expect("write");
    ok(&dir, &["publish", file.to_str().expect("utf8")]);
    let mut nodec = NodeClient::connect(node.url()).await.expect("connect");
    let before = nodec
        .stats(v1::StatsRequest {})
        .await
        .expect("stats")
        .into_inner();

    // Files: each case is (edit, text expected in the one-line error).
    let cases: &[(&str, &str, &str)] = &[
        ("title = \"Report a pothole\"", "title = ", "TOML"),
        ("title = \"Report a pothole\"\n", "", "title: required"),
        ("lgsl = [549]", "lgsl = [\"five\"]", "lgsl[0]"),
        ("lgsl = [549]", "lgsl = [0]", "lgsl[0]"),
        (
            "coverage = [\"E07000209\"]",
            "coverage = [\"Guildford\"]",
            "coverage[0]",
        ),
        (
            "endpointDescription = \"https://www.guildford.gov.uk/potholes/openapi.json\"",
            "endpointURL = \"not a url\"\nendpointDescription = \"https://x.gov.uk/o.json\"",
            "endpointURL",
        ),
        (
            "serviceStatus = \"LIVE\"",
            "serviceStatus = \"PRODUCTION\"",
            "serviceStatus",
        ),
        (
            "email = \"highways@guildford.gov.uk\"",
            "email = \"highways\"",
            "contactPoint.email",
        ),
        (
            "modified = \"2026-11-01\"",
            "modified = \"2026-11-01T10:00:00\"",
            "modified",
        ),
        (
            "kind = \"service\"",
            "kind = \"service\"\ncolour = \"blue\"",
            "colour",
        ),
        (
            "name = \"pothole-reporting\"",
            "name = \"Pothole Reporting\"",
            "name",
        ),
    ];
    for (from, to, expect) in cases {
        let bad = GOOD.replacen(from, to, 1);
        assert_ne!(bad, GOOD, "edit {from:?} did not apply");
        std::fs::write(&file, bad).expect("write");
        let err = fails(&dir, &["publish", file.to_str().expect("utf8")]);
        assert!(err.contains(expect), "expected {expect:?} in {err}");
        assert!(err.starts_with("error: "), "{err}");
    }
    // Oversized file.
    let big = GOOD.replace(
        "Report a pothole on a road or pavement.",
        &"x".repeat(300 * 1024),
    );
    std::fs::write(&file, big).expect("write");
    let err = fails(&dir, &["publish", file.to_str().expect("utf8")]);
    assert!(err.contains("over the limit"), "{err}");
    // Unknown extension.
    let err = fails(&dir, &["publish", "/etc/hostname"]);
    assert!(err.contains("--format"), "{err}");

    // gRPC: missing and wrong token.
    let mut reg = RegistryClient::connect(node.url()).await.expect("connect");
    let doc = v1::PublishRequest {
        name: String::new(),
        content: Some(v1::publish_request::Content::Document(v1::Document {
            format: "toml".into(),
            text: GOOD.into(),
        })),
    };
    let st = reg.publish(doc.clone()).await.expect_err("no token");
    assert_eq!(st.code(), Code::Unauthenticated);
    assert!(st.message().contains("authorization"), "{}", st.message());
    let mut wrong = tonic::Request::new(doc.clone());
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer nope".parse().expect("ascii"));
    assert_eq!(
        reg.publish(wrong).await.expect_err("wrong token").code(),
        Code::Unauthenticated
    );
    let st = reg
        .retract(v1::RetractRequest {
            name: "pothole-reporting".into(),
            reason: String::new(),
        })
        .await
        .expect_err("no token");
    assert_eq!(st.code(), Code::Unauthenticated);

    // gRPC: invalid document → INVALID_ARGUMENT naming the field.
    let bad = v1::PublishRequest {
        name: String::new(),
        content: Some(v1::publish_request::Content::Document(v1::Document {
            format: "toml".into(),
            text: GOOD.replace("\"OPEN\"", "\"SENSITIVE\""),
        })),
    };
    let st = reg.publish(authed(&dir, bad)).await.expect_err("invalid");
    assert_eq!(st.code(), Code::InvalidArgument);
    assert!(st.message().contains("accessRights"), "{}", st.message());

    // Submit: tampered signature, oversized, garbage, rollback, equivocation.
    let key = publisher_key(&dir);
    let now = now_ms();
    let mut tampered =
        UnsignedManifest(sample::service("x", 1, "X", "x", &[], &[], now)).sign(&key);
    tampered.signature[5] ^= 1;
    let submit = submit_of;
    let st = reg
        .submit(authed(&dir, submit(&tampered)))
        .await
        .expect_err("tampered");
    assert_eq!(st.code(), Code::InvalidArgument);
    assert!(st.message().starts_with("signature"), "{}", st.message());

    let huge = UnsignedManifest(sample::service(
        "y",
        1,
        "Y",
        &"y".repeat(70_000),
        &[],
        &[],
        now,
    ))
    .sign(&key);
    let st = reg
        .submit(authed(&dir, submit(&huge)))
        .await
        .expect_err("oversized");
    assert_eq!(st.code(), Code::InvalidArgument);
    assert!(st.message().starts_with("size"), "{}", st.message());

    let garbage = v1::SubmitRequest {
        envelope: Some(v1::Envelope {
            body: vec![0xff; 40],
            signature: vec![1; 64],
        }),
    };
    let st = reg
        .submit(authed(&dir, garbage))
        .await
        .expect_err("garbage");
    assert_eq!(st.code(), Code::InvalidArgument);

    // The head of pothole-reporting is v1; a signed v1 with other content equivocates,
    // and after a v3, a v2 is a rollback.
    let mut body = sample::service("pothole-reporting", 1, "Other", "other", &[], &[], now);
    let st = reg
        .submit(authed(
            &dir,
            submit(&UnsignedManifest(body.clone()).sign(&key)),
        ))
        .await
        .expect_err("equivocation");
    assert_eq!(st.code(), Code::FailedPrecondition);
    assert!(st.message().starts_with("equivocation"), "{}", st.message());
    body.version = 3;
    let ok3 = reg
        .submit(authed(
            &dir,
            submit(&UnsignedManifest(body.clone()).sign(&key)),
        ))
        .await
        .expect("v3")
        .into_inner();
    assert_eq!(ok3.outcome, v1::Outcome::Stored as i32);
    body.version = 2;
    let st = reg
        .submit(authed(&dir, submit(&UnsignedManifest(body).sign(&key))))
        .await
        .expect_err("rollback");
    assert_eq!(st.code(), Code::FailedPrecondition);
    assert!(
        st.message().contains("lower than the head"),
        "{}",
        st.message()
    );

    // Reads with bad arguments.
    let st = reg
        .get(v1::GetRequest { id: "xyz".into() })
        .await
        .expect_err("bad id");
    assert_eq!(st.code(), Code::InvalidArgument);
    let st = reg
        .get(v1::GetRequest { id: "0".repeat(64) })
        .await
        .expect_err("missing");
    assert_eq!(st.code(), Code::NotFound);
    let st = reg
        .resolve(v1::ResolveRequest {
            publisher: "did:key:zBAD".into(),
            name: "x".into(),
        })
        .await
        .expect_err("bad did");
    assert_eq!(st.code(), Code::InvalidArgument);
    assert!(st.message().starts_with("publisher"), "{}", st.message());
    let st = reg
        .search(v1::SearchRequest {
            area: "Guildford".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad area");
    assert_eq!(st.code(), Code::InvalidArgument);
    assert!(st.message().starts_with("area"), "{}", st.message());
    let st = reg
        .search(v1::SearchRequest {
            cursor: "beef".into(),
            text: "x".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad cursor");
    assert_eq!(st.code(), Code::InvalidArgument);

    // Only the valid v3 and the equivocation evidence were added.
    let after = nodec
        .stats(v1::StatsRequest {})
        .await
        .expect("stats")
        .into_inner();
    assert_eq!(after.heads, before.heads);
    assert_eq!(
        after.manifests,
        before.manifests + 2,
        "v3 and the kept evidence"
    );
    let shown = json(&ok(&dir, &["show", "pothole-reporting", "--json"]));
    assert_eq!(shown["version"], 3);
    assert_eq!(shown["equivocation"], true, "the publisher is flagged");
    let (_, metrics) = node.http_get("/metrics");
    for reason in [
        "signature",
        "size",
        "decode",
        "schema",
        "rollback",
        "equivocation",
    ] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "lgmesh_manifests_rejected_total{{reason=\"{reason}\"}}"
                ))
            })
            .expect("line");
        assert!(!line.ends_with(" 0"), "{line}");
    }
}

#[test]
fn commands_without_a_node_say_how_to_start_one() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let err = fails(&dir, &["search", "bins"]);
    assert!(err.contains("lgmesh run"), "{err}");
}

#[test]
fn a_key_readable_by_others_is_refused() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let tmp = init_guildford();
        let dir = tmp.path().join("node");
        std::fs::set_permissions(
            dir.join("publisher.key"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        let err = fails(
            &dir,
            &[
                "run",
                "--grpc-addr",
                "127.0.0.1:0",
                "--http-addr",
                "127.0.0.1:0",
            ],
        );
        assert!(err.contains("chmod 600"), "{err}");
    }
}

#[test]
fn non_loopback_grpc_needs_an_explicit_flag() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let err = fails(
        &dir,
        &[
            "run",
            "--grpc-addr",
            "0.0.0.0:0",
            "--http-addr",
            "127.0.0.1:0",
        ],
    );
    assert!(err.contains("--allow-remote-grpc"), "{err}");
}

#[test]
fn output_to_a_reader_that_has_gone_ends_quietly() {
    // `lgmesh search … | head -1`: the reader has gone before the command writes.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let manifest = examples().join("manifests/guildford-bin-collection.toml");
    let out = std::process::Command::new(BIN)
        .arg("check")
        .arg(&manifest)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run lgmesh")
        .wait_with_output()
        .expect("wait for lgmesh");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(err.is_empty(), "nothing on stderr, got: {err}");
}
