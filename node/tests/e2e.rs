//! End to end: the real `lgmesh` binary on 127.0.0.1 port 0, driven through the CLI
//! and a tonic client.

mod common;

use common::*;
use lgmesh_proto::v1::{self, node_client::NodeClient, registry_client::RegistryClient};

#[test]
fn init_writes_private_keys_config_and_org_card() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    #[cfg(unix)]
    for f in ["publisher.key", "node.key", "admin.token"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(f))
            .expect("exists")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let cfg = std::fs::read_to_string(dir.join("lgmesh.toml")).expect("config");
    assert!(
        cfg.contains("gss:E07000209") && cfg.contains("# "),
        "a commented config"
    );
    let err = fails(&dir, &["init", "--org", "gss:E07000209", "--name", "Again"]);
    assert!(err.contains("already initialised"), "{err}");

    let node = Node::start(&dir);
    let org = json(&ok(&dir, &["show", "org", "--json"]));
    assert_eq!(org["record"]["orgId"], "gss:E07000209");
    assert_eq!(
        org["version"], 1,
        "run does not re-sign an unchanged org card"
    );
    drop(node);
}

#[test]
fn init_refuses_bad_org_ids() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("n");
    for (org, field) in [
        ("E07000209", "--org"),
        ("gss:E0700020", "--org"),
        ("gss:e07000209", "--org"),
    ] {
        let err = fails(&dir, &["init", "--org", org, "--name", "X"]);
        assert!(err.contains(field), "{err}");
    }
    assert!(!dir.join("publisher.key").exists(), "nothing written");
}

#[test]
fn run_on_an_empty_dir_makes_a_development_identity() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("fresh");
    let _node = Node::start(&dir);
    let info = json(&ok(&dir, &["info", "--json"]));
    assert_eq!(info["developmentIdentity"], true);
    assert_eq!(info["orgId"], "dev:local");
    assert!(
        info["publisher"]
            .as_str()
            .expect("did")
            .starts_with("did:key:z6Mk")
    );
    assert!(
        info["peerId"]
            .as_str()
            .expect("peer")
            .starts_with("12D3KooW")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_search_show_history_retract() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let node = Node::start(&dir);
    let ex = examples().join("manifests");

    // Publish every example; the second publish of a file is unchanged.
    for f in std::fs::read_dir(&ex).expect("examples") {
        let path = f.expect("entry").path();
        let p = path.to_str().expect("utf8");
        // Two councils' examples share a name; one node publishes both here.
        let args: Vec<&str> = if p.contains("edinburgh") {
            vec!["publish", p, "--name", "edinburgh-bins", "--json"]
        } else {
            vec!["publish", p, "--json"]
        };
        let out = json(&ok(&dir, &args));
        assert_eq!(out["outcome"], "OUTCOME_STORED", "{}", path.display());
    }
    let bins = ex.join("guildford-bin-collection.toml");
    let bins = bins.to_str().expect("utf8");
    let again = json(&ok(&dir, &["publish", bins, "--json"]));
    assert_eq!(again["outcome"], "OUTCOME_UNCHANGED");
    assert_eq!(again["version"], 1);

    // A UK metadata model record, as it is.
    let yaml = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../protocol/tests/data/ukgov-metadata-model/Dataset/valid/Dataset-os-postcodes-datset.yaml");
    let ds = json(&ok(
        &dir,
        &["publish", yaml.to_str().expect("utf8"), "--json"],
    ));
    assert_eq!(ds["name"], "os-postcodes-data");
    assert_eq!(ds["record"]["updateFrequency"], "freq:quarterly");

    // Search: text, filters, JSON.
    let hits = json(&ok(&dir, &["search", "bin", "collection", "--json"]));
    assert_eq!(hits["total"], 3, "{hits}");
    let hits = json(&ok(
        &dir,
        &["search", "--lgsl", "524", "--area", "S12000036", "--json"],
    ));
    assert_eq!(hits["total"], 1);
    assert_eq!(hits["hits"][0]["record"]["coverage"][0], "S12000036");
    let hits = json(&ok(&dir, &["search", "--kind", "dataset", "--json"]));
    assert_eq!(hits["total"], 3);
    let text = ok(&dir, &["search", "address", "lookup"]);
    assert!(text.contains("Address lookup API"), "{text}");

    // Show by name, by PUBLISHER/NAME, and by id.
    let shown = json(&ok(&dir, &["show", "address-lookup", "--json"]));
    let id = shown["id"].as_str().expect("id").to_owned();
    let publisher = shown["publisher"].as_str().expect("publisher").to_owned();
    assert_eq!(
        shown["record"]["endpointDescription"],
        "https://api.leeds.gov.uk/address-lookup/v2/openapi.json"
    );
    assert_eq!(shown["orgName"], "Guildford Borough Council");
    let by_id = json(&ok(&dir, &["show", &id, "--json"]));
    assert_eq!(by_id["name"], "address-lookup");
    let by_pn = json(&ok(
        &dir,
        &["show", &format!("{publisher}/address-lookup"), "--json"],
    ));
    assert_eq!(by_pn["id"], id.as_str());
    let text = ok(&dir, &["show", "address-lookup"]);
    assert!(
        text.contains("serviceStatus") && text.contains("BETA"),
        "{text}"
    );

    // An update makes version 2; history lists both.
    let edited = tmp.path().join("bins.toml");
    let src = std::fs::read_to_string(bins)
        .expect("read")
        .replace("modified = \"2026-10-14\"", "modified = \"2026-11-20\"");
    std::fs::write(&edited, src).expect("write");
    let v2 = json(&ok(
        &dir,
        &["publish", edited.to_str().expect("utf8"), "--json"],
    ));
    assert_eq!(v2["version"], 2);
    let hist = json(&ok(&dir, &["history", "bin-collection-days", "--json"]));
    assert_eq!(hist.as_array().expect("list").len(), 2);
    assert_eq!(hist[0]["version"], 2);
    assert_eq!(hist[1]["isHead"], false);

    // Retract: gone from search, tombstone shown, cannot come back under the name.
    let r = json(&ok(
        &dir,
        &[
            "retract",
            "bin-collection-days",
            "--reason",
            "moved to the county platform",
            "--json",
        ],
    ));
    assert_eq!(r["kind"], "retraction");
    let hits = json(&ok(&dir, &["search", "bin", "--json"]));
    assert_eq!(hits["total"], 1, "only Edinburgh's remains: {hits}");
    let err = fails(&dir, &["publish", bins]);
    assert!(err.contains("retracted"), "{err}");
    let err = fails(&dir, &["retract", "no-such-thing"]);
    assert!(err.contains("not found"), "{err}");

    // The same through a tonic client.
    let mut reg = RegistryClient::connect(node.url()).await.expect("connect");
    let page = reg
        .search(v1::SearchRequest {
            text: "parking".into(),
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner();
    assert_eq!(page.total, 1);
    let m = page.hits[0].manifest.clone().expect("manifest");
    assert_eq!(m.kind, "dataset");
    // The bytes verify on the client side: SHA-256 of the body is the id.
    let env = m.envelope.expect("envelope");
    let checked = lgmesh_protocol::validate::verify_parts(
        env.body,
        &env.signature,
        &Default::default(),
        lgmesh_protocol::now_ms(),
    )
    .expect("verifies");
    assert_eq!(checked.id().to_string(), m.id);
    let h = reg
        .history(v1::HistoryRequest {
            publisher: String::new(),
            name: "bin-collection-days".into(),
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner();
    assert_eq!(h.manifests.len(), 3);
    let mut nodec = NodeClient::connect(node.url()).await.expect("connect");
    let stats = nodec
        .stats(v1::StatsRequest {})
        .await
        .expect("stats")
        .into_inner();
    assert_eq!(
        stats.heads, 8,
        "org card, 6 examples, the yaml record: {stats:?}"
    );

    // Health and reflection, for grpcurl and any language's client.
    let channel = node.channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let st = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "lgmesh.v1.Registry".into(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        st.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let channel = node.channel().await;
    let mut refl = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = refl
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .expect("reflection")
        .into_inner();
    let reply = replies.message().await.expect("reply").expect("one reply");
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("not a service list")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for svc in [
        "lgmesh.v1.Registry",
        "lgmesh.v1.Node",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == svc),
            "{svc} not listed by reflection: {names:?}"
        );
    }

    // HTTP.
    let (status, body) = node.http_get("/healthz");
    assert!(status.contains("200"), "{status}");
    assert_eq!(body.trim(), "ok");
    let (_, metrics) = node.http_get("/metrics");
    assert!(
        metrics.contains("lgmesh_manifests_accepted_total{source=\"local\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("lgmesh_manifests_rejected_total{reason=\"retracted\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("lgmesh_store_heads 8"), "{metrics}");
}

#[test]
fn a_node_without_bootstrap_peers_says_so_in_words_of_its_own() {
    let first = init_guildford();
    let log = first.path().join("stderr.log");
    let alone = Node::start_logged(&first.path().join("node"), &[], &log);
    let text = until("the start-up lines", || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|t| t.contains("no bootstrap peers"))
    });
    assert!(text.contains("--bootstrap"), "{text}");
    // Kademlia's own warning about having no peers comes half a second after the node
    // listens, while it is still alone; the node's log filter keeps it out.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(!text.contains("Failed to trigger bootstrap"), "{text}");

    // One that has a bootstrap peer does not say it (it would come before this line).
    let second = init_guildford();
    let log2 = second.path().join("stderr.log");
    let addr = listen_addr(&alone.dir);
    let joined = Node::start_logged(&second.path().join("node"), &["--bootstrap", &addr], &log2);
    let text2 = until("the second node's start-up lines", || {
        std::fs::read_to_string(&log2)
            .ok()
            .filter(|t| t.contains("Ctrl-C to stop"))
    });
    assert!(!text2.contains("no bootstrap peers"), "{text2}");
    joined.kill();
    alone.kill();
}

#[test]
fn a_node_with_a_watcher_attached_stops_cleanly_and_tells_the_watcher() {
    use tonic_health::pb::health_check_response::ServingStatus;
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let mut node = Node::start(&dir);
    let mut watch = std::process::Command::new(BIN)
        .args(["watch", "--data-dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn watch");
    // The watcher is attached once it has said so (on stderr; stdout is for manifests).
    let mut err = std::io::BufReader::new(watch.stderr.take().expect("stderr"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).expect("read");
    assert!(line.starts_with("Watching"), "{line}");

    // A load balancer or orchestrator watching the standard gRPC health service.
    // Its connection is served in the background while this thread stops the node.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut health = rt.block_on(async {
        let channel = node.channel().await;
        let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
        let mut stream = client
            .watch(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("health watch")
            .into_inner();
        let first = stream.message().await.expect("status").expect("a status");
        assert_eq!(first.status, ServingStatus::Serving as i32);
        stream
    });

    // An open watch used to hold the server's graceful shutdown until its 10 s limit,
    // and the node then exited with an error.
    let status = node.interrupt();
    assert!(status.success(), "the node exited with {status}");
    // The health watcher heard the node stop serving, and its stream ended.
    let heard = rt.block_on(async {
        let mut seen = vec![];
        while let Ok(Some(m)) = health.message().await {
            seen.push(m.status);
        }
        seen
    });
    assert_eq!(heard, vec![ServingStatus::NotServing as i32], "{heard:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).expect("read");
    let done = watch.wait().expect("watch");
    assert!(!done.success());
    let err = rest;
    assert!(err.contains("the node is shutting down"), "{err}");
}

#[test]
fn a_folder_of_manifests_is_published_file_by_file() {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let _node = Node::start(&dir);
    let folder = tmp.path().join("manifests");
    std::fs::create_dir_all(folder.join("drafts")).expect("mkdir");
    for f in [
        "guildford-bin-collection",
        "leeds-address-lookup",
        "camden-waste-rounds",
    ] {
        std::fs::copy(
            examples().join(format!("manifests/{f}.toml")),
            folder.join(format!("{f}.toml")),
        )
        .expect("copy");
    }
    // Not published: a file of another kind, and a subfolder's.
    std::fs::write(folder.join("notes.txt"), "not a manifest").expect("write");
    std::fs::copy(
        examples().join("manifests/bristol-report-a-problem.toml"),
        folder.join("drafts/bristol.toml"),
    )
    .expect("copy");
    // A broken one: reported, and the rest still published.
    std::fs::write(folder.join("broken.toml"), "kind = \"service\"\nname = ").expect("write");
    let f = folder.to_str().expect("utf-8");
    let out = lgmesh(&dir, &["publish", f, "--json"]);
    assert!(
        !out.status.success(),
        "a folder with a broken file must fail"
    );
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["failed"], 1, "{v}");
    let files = v["files"].as_array().expect("files");
    assert_eq!(files.len(), 4, "{v}");
    assert!(
        files[0]["file"]
            .as_str()
            .expect("file")
            .ends_with("broken.toml")
    );
    assert_eq!(files[0]["ok"], false);
    assert!(
        files[1..].iter().all(|f| f["outcome"] == "OUTCOME_STORED"),
        "{v}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 of 4 files failed"), "{err}");

    // Again, without the broken file: everything unchanged, exit 0, text for people.
    std::fs::remove_file(folder.join("broken.toml")).expect("rm");
    let text = ok(&dir, &["publish", f]);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("unchanged ")).count(),
        3,
        "{text}"
    );
    assert!(
        text.contains("3 of 3 files published or unchanged."),
        "{text}"
    );
    // --name names one manifest.
    let err = fails(&dir, &["publish", f, "--name", "x"]);
    assert!(err.contains("--name"), "{err}");
}
