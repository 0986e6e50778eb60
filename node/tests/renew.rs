//! A node renews its own manifests before they expire: the App against a real store.

use std::sync::Arc;

use lgmesh::app::App;
use lgmesh::config::Config;
use lgmesh_protocol::identity::SecretKey;
use lgmesh_protocol::{YEAR_MS, now_ms, sample};
use lgmesh_registry::Registry;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_manifests_near_expiry_are_resigned_with_a_new_expiry_and_tombstones_are_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = Registry::open(dir.path(), Default::default()).expect("open");
    let mut config = Config::default();
    config.org.id = "gss:E07000209".into();
    let app = App::new(Arc::new(reg), Some(SecretKey::from_seed(&[3; 32])), config);
    let service = |name: &str| {
        sample::service(
            name,
            1,
            "Bin collection days",
            "By postcode.",
            &[524],
            &[],
            0,
        )
        .kind
        .expect("kind")
    };
    let (_, bins) = app
        .publish_kind("bins", service("bins"))
        .await
        .expect("publish");
    app.publish_kind("gone", service("gone"))
        .await
        .expect("publish");
    app.retract("gone", "replaced").await.expect("retract");

    // Nothing is due a year ahead of expiry.
    assert_eq!(
        app.renew_due(now_ms(), 30 * DAY_MS).await.expect("renew"),
        0
    );
    // 340 days on, with a 30-day window, the service is due; the tombstone is not renewed.
    let later = now_ms() + YEAR_MS - 25 * DAY_MS;
    assert_eq!(app.renew_due(later, 30 * DAY_MS).await.expect("renew"), 1);
    let head = app
        .resolve(app.publisher().expect("a publishing node"), "bins".into())
        .await
        .expect("head");
    assert_eq!(head.body.version, 2);
    assert_eq!(head.body.kind, bins.body.kind, "same content");
    assert!(head.body.expires_at_ms > bins.body.expires_at_ms);
    let gone = app
        .resolve(app.publisher().expect("a publishing node"), "gone".into())
        .await
        .expect("tombstone");
    assert_eq!(gone.kind(), "retraction");
    assert_eq!(gone.body.version, 2);
}
