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

/// The longest a manifest may be current, in days (three years and a leap day): its
/// `expires_at` is at most this long after its `issued_at`. A publisher renews what it
/// still stands behind; without a bound, a manifest (or a key's stolen signature on one)
/// could stay current for ever, and a tombstone could not be sure to outlive what it
/// retracts.
pub const MAX_LIFETIME_DAYS: u64 = 3 * 365 + 1;

/// [`MAX_LIFETIME_DAYS`] in milliseconds.
pub const MAX_LIFETIME_MS: u64 = MAX_LIFETIME_DAYS * 24 * 60 * 60 * 1000;
