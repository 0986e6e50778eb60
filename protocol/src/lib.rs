//! The lgmesh domain model.
//!
//! What it is: publisher identities (`did:key`), organisation ids, the manifest kinds and
//! their schema (the UK Cross-Government Metadata Exchange Model plus local-government
//! extensions), reading manifests from TOML/YAML/JSON documents, the signed envelope, and
//! the one validation function every ingress path calls.
//!
//! What it is not: storage (see `lgmesh-registry`) or servers (see the `lgmesh` node).
//!
//! ```
//! use lgmesh_protocol::{identity::SecretKey, envelope::UnsignedManifest, validate, now_ms};
//! use lgmesh_proto::v1::{ManifestBody, OrgCard, manifest_body::Kind};
//!
//! let key = SecretKey::from_seed(&[7; 32]);
//! let now = now_ms();
//! let body = ManifestBody {
//!     name: "org".into(),
//!     version: 1,
//!     issued_at_ms: now,
//!     expires_at_ms: now + 1000 * 60 * 60,
//!     kind: Some(Kind::Org(OrgCard {
//!         org_id: "gss:E07000209".into(),
//!         name: "Guildford Borough Council".into(),
//!         ..Default::default()
//!     })),
//!     ..Default::default()
//! };
//! let bytes = UnsignedManifest(body).sign(&key).to_bytes();
//! let m = validate::verify_bytes(&bytes, &validate::Limits::default(), now).expect("valid");
//! assert_eq!(m.publisher(), &key.public());
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod document;
pub mod envelope;
pub mod identity;
pub mod sample;
pub mod schema;
pub mod validate;

pub use lgmesh_proto::v1;

/// Milliseconds since the Unix epoch, by the system clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One year in milliseconds: the default lifetime of a manifest.
pub const YEAR_MS: u64 = 365 * 24 * 60 * 60 * 1000;
