//! Domain proof against real web servers on 127.0.0.1: a council's website lists its
//! key at /.well-known/lgmesh.json and another node's checker verifies it, over plain
//! HTTP (the development setting) and over real TLS with a test CA.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lgmesh::app::App;
use lgmesh::config::{Config, TrustConfig};
use lgmesh::domain::{self, Checker, Code, Proofs};
use lgmesh_protocol::identity::{PublisherKey, SecretKey};
use lgmesh_registry::trust::Basis;
use lgmesh_registry::{Registry, Verification};

/// What the test website answers at /.well-known/lgmesh.json.
#[derive(Clone)]
enum Reply {
    Json(String),
    Status(u16),
    Slow(Duration),
    Redirect(String),
    Big,
}

#[derive(Clone)]
struct Site {
    reply: Arc<Mutex<Reply>>,
    hits: Arc<AtomicUsize>,
}

impl Site {
    fn set(&self, r: Reply) {
        *self.reply.lock().expect("lock") = r;
    }
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn well_known(axum::extract::State(site): axum::extract::State<Site>) -> Response {
    site.hits.fetch_add(1, Ordering::SeqCst);
    let reply = site.reply.lock().expect("lock").clone();
    match reply {
        Reply::Json(s) => ([(header::CONTENT_TYPE, "application/json")], s).into_response(),
        Reply::Status(c) => StatusCode::from_u16(c).expect("status").into_response(),
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            "{}".into_response()
        }
        Reply::Redirect(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        Reply::Big => " ".repeat(100 * 1024).into_response(),
    }
}

fn router(site: Site) -> axum::Router {
    axum::Router::new()
        .route(domain::WELL_KNOWN, axum::routing::get(well_known))
        .with_state(site)
}

fn site(reply: Reply) -> Site {
    Site {
        reply: Arc::new(Mutex::new(reply)),
        hits: Arc::default(),
    }
}

/// Serves `site` over plain HTTP; returns its port.
async fn serve_http(site: Site) -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(l, router(site)).await });
    port
}

fn file(org: &str, keys: &[&PublisherKey]) -> Reply {
    Reply::Json(
        serde_json::json!({
            "org": org,
            "publishers": keys.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
        })
        .to_string(),
    )
}

/// A council's node: an App on its own store, with its org card signed.
async fn council(dir: &std::path::Path, seed: u8, org: &str, website: &str) -> Arc<App> {
    let reg = Registry::open(dir, Default::default()).expect("open");
    let mut config = Config::default();
    config.org.id = org.into();
    config.org.name = "Test Council".into();
    config.org.website = website.into();
    let app = Arc::new(App::new(
        Arc::new(reg),
        Some(SecretKey::from_seed(&[seed; 32])),
        config,
    ));
    app.ensure_org_card("12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN")
        .await
        .expect("org card");
    app
}

/// Copies `from`'s org card into `to`'s store, as sync would.
fn carry_card(from: &App, to: &App) {
    let card = from
        .registry()
        .resolve(&from.publisher().expect("a publishing node"), "org")
        .expect("read")
        .expect("card");
    let bytes = from
        .registry()
        .envelope_bytes(&card.id)
        .expect("read")
        .expect("bytes");
    to.registry()
        .put(&bytes, lgmesh_protocol::now_ms())
        .expect("put");
}

fn dev_trust(timeout_secs: u64) -> TrustConfig {
    TrustConfig {
        domain_suffixes: vec!["localhost".into()],
        domain_allow_http: true,
        domain_timeout_secs: timeout_secs,
        ..TrustConfig::default()
    }
}

fn judged(app: &App, pk: &PublisherKey) -> (Verification, Option<Basis>) {
    let view = app.registry().trust().expect("trust");
    (view.of(pk), view.get(pk).and_then(|t| t.basis.clone()))
}

/// The checker as `app`'s node would run it: on its store and its tasks.
fn proofs(app: &App, checker: &Arc<Checker>) -> Proofs {
    Proofs::new(checker.clone(), app.intake().clone(), app.tasks().clone())
}

/// One round of the checker; how many cards it checked.
async fn round(app: &Arc<App>, checker: &Arc<Checker>) -> usize {
    proofs(app, checker).check_due().await.expect("round")
}

/// What `app` last found for `pk`.
fn record(app: &App, pk: &PublisherKey) -> lgmesh_registry::DomainProof {
    app.registry()
        .domain_proof(pk)
        .expect("read")
        .expect("record")
}

async fn check(
    app: &Arc<App>,
    checker: &Arc<Checker>,
    pk: &PublisherKey,
) -> lgmesh_registry::DomainProof {
    let card = app.registry().org_card(pk).expect("read").expect("card");
    proofs(app, checker)
        .check_card(&card)
        .await
        .expect("check")
        .expect("website")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_website_listing_the_key_verifies_it_until_it_stops() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let web = site(Reply::Status(404));
    let port = serve_http(web.clone()).await;
    let website = format!("http://localhost:{port}");
    let leeds = council(&tmp.path().join("leeds"), 2, "gss:E08000035", &website).await;
    let guildford = council(&tmp.path().join("gf"), 1, "gss:E07000209", "").await;
    carry_card(&leeds, &guildford);
    let pk = leeds.publisher().expect("a publishing node");
    let checker = Arc::new(Checker::new(&dev_trust(2)).expect("checker"));

    // No file yet: 404 is a definite no.
    assert_eq!(round(&guildford, &checker).await, 1);
    let rec = record(&guildford, &pk);
    assert_eq!(rec.result, "not_found", "{rec:?}");
    assert_eq!(judged(&guildford, &pk).0, Verification::Unverified);
    // Checked once: not due again within the re-check interval.
    assert_eq!(round(&guildford, &checker).await, 0);

    // The website lists the key: verified, by domain.
    web.set(file("gss:E08000035", &[&pk]));
    let rec = check(&guildford, &checker, &pk).await;
    assert_eq!(rec.result, "proven", "{rec:?}");
    assert_eq!(rec.host, "localhost");
    assert_eq!(
        judged(&guildford, &pk),
        (
            Verification::Verified,
            Some(Basis::Domain {
                host: "localhost".into(),
                official: false
            })
        )
    );

    // Down for a while (503, then too slow): the proof stands through the grace period.
    web.set(Reply::Status(503));
    assert_eq!(check(&guildford, &checker, &pk).await.result, "http_error");
    assert_eq!(judged(&guildford, &pk).0, Verification::Verified);
    web.set(Reply::Slow(Duration::from_secs(5)));
    let rec = check(&guildford, &checker, &pk).await;
    assert_eq!(rec.result, "timeout", "{rec:?}");
    assert_eq!(judged(&guildford, &pk).0, Verification::Verified);

    // Each definite no ends the proof at once, and says why.
    let other = SecretKey::from_seed(&[9; 32]).public();
    for (reply, result) in [
        (file("gss:E08000035", &[&other]), "not_listed"),
        (file("gss:E07000209", &[&pk]), "wrong_org"),
        (Reply::Json("{\"org\": 7}".into()), "bad_file"),
        (Reply::Json("<html>hello</html>".into()), "bad_file"),
        (Reply::Big, "too_large"),
        (
            Reply::Redirect(format!("http://127.0.0.1:{port}/x")),
            "bad_redirect",
        ),
        (Reply::Status(410), "not_found"),
    ] {
        web.set(file("gss:E08000035", &[&pk]));
        assert_eq!(check(&guildford, &checker, &pk).await.result, "proven");
        web.set(reply);
        let rec = check(&guildford, &checker, &pk).await;
        assert_eq!(rec.result, result, "{rec:?}");
        assert!(!rec.detail.is_empty());
        assert_eq!(rec.valid_until, 0, "{result} must end the proof");
        assert_eq!(
            judged(&guildford, &pk).0,
            Verification::Unverified,
            "{result}"
        );
    }

    // A redirect within the suffixes is followed.
    web.set(Reply::Redirect(format!(
        "http://localhost:{port}{}?moved",
        domain::WELL_KNOWN
    )));
    // (The redirect target answers with the same redirect: too many hops.)
    assert_eq!(
        check(&guildford, &checker, &pk).await.result,
        "bad_redirect"
    );

    // Without the development setting, plain HTTP is never fetched.
    web.set(file("gss:E08000035", &[&pk]));
    let strict = Arc::new(
        Checker::new(&TrustConfig {
            domain_suffixes: vec!["localhost".into()],
            ..TrustConfig::default()
        })
        .expect("checker"),
    );
    let before = web.hits();
    let rec = check(&guildford, &strict, &pk).await;
    assert_eq!(rec.result, "insecure", "{rec:?}");
    assert_eq!(web.hits(), before, "nothing fetched over plain HTTP");
    // Nor outside the suffixes (the defaults: gov.uk and the like).
    let defaults = Arc::new(
        Checker::new(&TrustConfig {
            domain_allow_http: true,
            ..TrustConfig::default()
        })
        .expect("checker"),
    );
    assert_eq!(
        check(&guildford, &defaults, &pk).await.result,
        "outside_suffixes"
    );
    assert_eq!(web.hits(), before);

    // Every check was counted by result.
    let counted: u64 = checker.metrics.snapshot().iter().map(|(_, n)| n).sum();
    assert_eq!(counted, 19);
    let proven = checker
        .metrics
        .snapshot()
        .into_iter()
        .find(|(c, _)| *c == Code::Proven)
        .map(|(_, n)| n);
    assert_eq!(proven, Some(8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_card_is_checked_again_at_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let web = site(Reply::Status(404));
    let port = serve_http(web.clone()).await;
    let leeds_dir = tmp.path().join("leeds");
    let leeds = council(&leeds_dir, 2, "gss:E08000035", "").await;
    let guildford = council(&tmp.path().join("gf"), 1, "gss:E07000209", "").await;
    carry_card(&leeds, &guildford);
    let pk = leeds.publisher().expect("a publishing node");
    let checker = Arc::new(Checker::new(&dev_trust(5)).expect("checker"));

    // A card without a website has nothing to check.
    assert_eq!(round(&guildford, &checker).await, 0);
    web.set(file("gss:E08000035", &[&pk]));

    // The card gains a website: due at once.
    let republish = |website: String| {
        let dir = leeds_dir.clone();
        async move {
            // The store's own threads let go of it a moment after the app is dropped:
            // until then sled's lock refuses a second open.
            let mut tries = 0;
            let reg = loop {
                match Registry::open(&dir, Default::default()) {
                    Ok(r) => break r,
                    Err(_) if tries < 250 => {
                        tries += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                    Err(e) => panic!("reopen: {e}"),
                }
            };
            let mut config = Config::default();
            config.org.id = "gss:E08000035".into();
            config.org.name = "Test Council".into();
            config.org.website = website;
            let app = App::new(Arc::new(reg), Some(SecretKey::from_seed(&[2; 32])), config);
            app.ensure_org_card("12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN")
                .await
                .expect("card");
            app
        }
    };
    drop(leeds);
    let leeds = republish(format!("http://localhost:{port}/")).await;
    carry_card(&leeds, &guildford);
    assert_eq!(round(&guildford, &checker).await, 1);
    assert_eq!(judged(&guildford, &pk).0, Verification::Verified);

    // It moves to another website, which does not list the key: checked at once, and
    // the proof ends.
    let elsewhere = serve_http(site(Reply::Status(404))).await;
    drop(leeds);
    let leeds = republish(format!("http://localhost:{elsewhere}/")).await;
    carry_card(&leeds, &guildford);
    assert_eq!(round(&guildford, &checker).await, 1);
    let rec = record(&guildford, &pk);
    assert_eq!(rec.result, "not_found");
    assert_eq!(rec.proven_at, 0, "the new website never listed it");
    assert_eq!(judged(&guildford, &pk).0, Verification::Unverified);

    // It drops its website: the record goes.
    drop(leeds);
    let leeds = republish(String::new()).await;
    carry_card(&leeds, &guildford);
    round(&guildford, &checker).await;
    assert_eq!(guildford.registry().domain_proof(&pk).expect("read"), None);
    assert_eq!(judged(&guildford, &pk).0, Verification::Unverified);
}

/// A TLS listener for axum: accepts TCP, completes the handshake, hands on the stream.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((s, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(t) = self.tls.accept(s).await {
                return (t, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proof_over_real_tls_needs_a_certificate_the_node_trusts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A test CA and a certificate for localhost signed by it.
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "lgmesh test CA");
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let leaf_key = rcgen::KeyPair::generate().expect("key");
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .signed_by(&leaf_key, &ca, &ca_key)
        .expect("leaf");
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write ca");

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).expect("key der"),
        )
        .expect("server config");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = tcp.local_addr().expect("addr").port();

    let leeds = council(
        &tmp.path().join("leeds"),
        2,
        "gss:E08000035",
        &format!("https://localhost:{port}"),
    )
    .await;
    let pk = leeds.publisher().expect("a publishing node");
    let web = site(file("gss:E08000035", &[&pk]));
    let listener = TlsListener {
        tcp,
        tls: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
    };
    tokio::spawn(async move { axum::serve(listener, router(web)).await });
    let guildford = council(&tmp.path().join("gf"), 1, "gss:E07000209", "").await;
    carry_card(&leeds, &guildford);

    // Only HTTPS, only under the suffixes, no development setting: but the test CA is
    // not one the system trusts, so the handshake fails (and the node may retry).
    let strict = TrustConfig {
        domain_suffixes: vec!["localhost".into()],
        domain_timeout_secs: 5,
        ..TrustConfig::default()
    };
    let rec = check(
        &guildford,
        &Arc::new(Checker::new(&strict).expect("checker")),
        &pk,
    )
    .await;
    assert_eq!(rec.result, "unreachable", "{rec:?}");
    assert_eq!(judged(&guildford, &pk).0, Verification::Unverified);

    // Told to trust the CA (as a council would its TLS-inspecting proxy's): proven.
    let with_ca = TrustConfig {
        domain_ca_file: ca_file.display().to_string(),
        ..strict
    };
    let rec = check(
        &guildford,
        &Arc::new(Checker::new(&with_ca).expect("checker")),
        &pk,
    )
    .await;
    assert_eq!(rec.result, "proven", "{rec:?}");
    assert_eq!(
        judged(&guildford, &pk),
        (
            Verification::Verified,
            Some(Basis::Domain {
                host: "localhost".into(),
                official: false
            })
        )
    );

    // A CA file that is not PEM is refused by name.
    std::fs::write(&ca_file, "not a certificate").expect("write");
    let err = Checker::new(&with_ca).err().expect("refused").to_string();
    assert!(err.contains("trust.domain_ca_file"), "{err}");
}
