//! Schema checks on a decoded manifest body: required fields, lengths, URL syntax,
//! enumerations, LGSL and GSS syntax. The same rules apply to every ingress path,
//! so a manifest signed by a careless or hostile tool is refused like a bad file.
//!
//! | module | holds |
//! | --- | --- |
//! | `text` | value checks: URLs, dates, licences, media types, emails, unsafe characters |
//! | `catalogue` | services and datasets: common and local fields, distributions, contacts |
//! | `trust` | org cards, key rotations, revocations, endorsements, adoptions, needs |
//!
//! Here: [`check_body`], which checks the envelope fields and hands the kind to its
//! module, the errors it returns, and the names and constants other crates build on.

mod catalogue;
mod text;
mod trust;

pub use text::{
    escape_unsafe, is_date, is_email, is_http_url, is_licence, is_media_type, is_unsafe_char,
};

pub(crate) use catalogue::{check_contact, check_dataset, check_distribution, check_service};

use lgmesh_proto::v1::{ManifestBody, manifest_body::Kind};

use crate::identity::is_slug;
use text::text;
use trust::{
    check_adoption, check_endorsement, check_need, check_org, check_revocation, check_rotation,
};

/// One problem with one field, e.g. `serviceStatus: "PRODUCTION" is not one of …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, in the UK metadata model's spelling, with a path for nested fields
    /// (`contactPoint.email`, `distribution[0].mediaType`).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Joins field errors into one line.
pub fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Field length limits (characters).
pub mod limits {
    /// Title.
    pub const TITLE: usize = 300;
    /// Summary (the model's pattern `^.{1,250}$`).
    pub const SUMMARY: usize = 250;
    /// Description.
    pub const DESCRIPTION: usize = 32 * 1024;
    /// A short free-text field (identifier, version, names).
    pub const SHORT: usize = 500;
    /// A URL.
    pub const URL: usize = 2048;
    /// Items in a list field.
    pub const LIST: usize = 50;
    /// Distributions of one dataset.
    pub const DISTRIBUTIONS: usize = 100;
    /// A keyword.
    pub const KEYWORD: usize = 100;
    /// Needs one service or adoption answers.
    pub const ANSWERS: usize = 16;
}

/// Collects field errors.
#[derive(Default)]
pub(crate) struct Errors(pub Vec<FieldError>);

impl Errors {
    pub fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            reason: reason.into(),
        });
    }
}

/// The most manifest ids a rotation or revocation may name as staying valid.
pub const MAX_VALID_IDS: usize = 1024;

/// Every kind's name, as [`kind_name`] gives them.
pub const KINDS: [&str; 9] = [
    "org",
    "service",
    "dataset",
    "retraction",
    "endorsement",
    "adoption",
    "need",
    "key-rotation",
    "revocation",
];

/// The name every key rotation is published under.
pub const ROTATION_NAME: &str = "key-rotation";

/// The name every org card is published under.
pub const ORG_CARD_NAME: &str = "org";

/// Whether `(publisher, name)` holds a statement a key makes once and for good: its key
/// rotation, or its revocation of itself. Such a name has no versions: any second body
/// under it, whatever its version, contradicts the first (equivocation), and both are
/// kept and flagged; a later one never silently replaces the first.
pub fn is_terminal(publisher: &[u8], name: &str) -> bool {
    name == ROTATION_NAME || (publisher.len() == 32 && name == revocation_name(publisher))
}

/// Checks a whole body: the envelope fields and its kind. Every problem is listed.
pub fn check_body(b: &ManifestBody) -> Result<(), Vec<FieldError>> {
    let mut e = Errors::default();
    // Only the length here: whether the bytes are a valid key is decided once, when
    // the signature is checked (decompressing a point is a third of a verification).
    if b.publisher.len() != 32 {
        e.push(
            "publisher",
            format!(
                "an ed25519 public key is 32 bytes, got {}",
                b.publisher.len()
            ),
        );
    }
    if !is_slug(&b.name) {
        e.push(
            "name",
            format!(
                "{:?} must be 1-64 of a-z, 0-9 and '-', not starting with '-'",
                b.name
            ),
        );
    }
    let reserved = [
        ("endorse-", "endorsement"),
        ("adopt-", "adoption"),
        ("revoke-", "revocation"),
        (ROTATION_NAME, "key-rotation"),
    ];
    for (prefix, kind) in reserved {
        let taken = if prefix == ROTATION_NAME {
            b.name == prefix
        } else {
            b.name.starts_with(prefix)
        };
        if taken && !matches!(kind_name(b.kind.as_ref()), k if k == kind || k == "retraction") {
            e.push(
                "name",
                format!("names starting {prefix:?} are kept for the {kind} kind"),
            );
        }
    }
    if b.version == 0 {
        e.push("version", "must be at least 1");
    }
    if b.issued_at_ms == 0 {
        e.push("issuedAt", "required");
    }
    if b.expires_at_ms <= b.issued_at_ms {
        e.push("expiresAt", "must be after issuedAt");
    } else if b.expires_at_ms - b.issued_at_ms > crate::MAX_LIFETIME_MS {
        e.push(
            "expiresAt",
            format!("at most {} days after issuedAt", crate::MAX_LIFETIME_DAYS),
        );
    }
    match &b.kind {
        None => e.push(
            "kind",
            "required: org, service, dataset, retraction, endorsement, adoption or need",
        ),
        Some(Kind::Org(o)) => {
            if b.name != ORG_CARD_NAME {
                e.push(
                    "name",
                    format!("an org card is always named {ORG_CARD_NAME:?}"),
                );
            }
            check_org(&mut e, o)
        }
        Some(Kind::Service(s)) => check_service(&mut e, s),
        Some(Kind::Dataset(d)) => check_dataset(&mut e, d),
        Some(Kind::Retraction(r)) => text(&mut e, "reason", &r.reason, false, 1000),
        Some(Kind::Endorsement(x)) => check_endorsement(&mut e, b, x),
        Some(Kind::Adoption(a)) => check_adoption(&mut e, b, a),
        Some(Kind::Need(n)) => check_need(&mut e, n),
        Some(Kind::KeyRotation(r)) => check_rotation(&mut e, b, r),
        Some(Kind::Revocation(r)) => check_revocation(&mut e, b, r),
    }
    if e.0.is_empty() { Ok(()) } else { Err(e.0) }
}

/// The name an endorsement of `subject` is published under: `endorse-` and the first
/// 16 bytes of the key in hex. One per endorser and key.
pub fn endorsement_name(subject: &[u8]) -> String {
    format!("endorse-{}", hex16(subject))
}

/// The name an adoption of the service `(publisher, name)` is published under:
/// `adopt-` and the first 12 bytes of SHA-256(publisher || name) in hex. One per
/// adopter and service.
pub fn adoption_name(publisher: &[u8], name: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(publisher);
    h.update(name.as_bytes());
    format!("adopt-{}", hex16(&h.finalize()[..12]))
}

fn hex16(b: &[u8]) -> String {
    b.iter().take(16).map(|x| format!("{x:02x}")).collect()
}

/// The name a revocation of `subject` is published under.
pub fn revocation_name(subject: &[u8]) -> String {
    format!("revoke-{}", hex16(subject))
}

/// The kind's name: one of [`KINDS`].
pub fn kind_name(k: Option<&Kind>) -> &'static str {
    match k {
        Some(Kind::Org(_)) => "org",
        Some(Kind::Service(_)) => "service",
        Some(Kind::Dataset(_)) => "dataset",
        Some(Kind::Retraction(_)) => "retraction",
        Some(Kind::Endorsement(_)) => "endorsement",
        Some(Kind::Adoption(_)) => "adoption",
        Some(Kind::Need(_)) => "need",
        Some(Kind::KeyRotation(_)) => "key-rotation",
        Some(Kind::Revocation(_)) => "revocation",
        None => "unknown",
    }
}
