//! The one validation function that every ingress path calls (gRPC publish and submit,
//! gossip, sync, import), with a named reason for every rejection.
//!
//! Order: size → decode → schema → signature → time → version/retraction against the
//! current head. The first four need nothing but the bytes; the last needs the head of
//! `(publisher, name)`, which the caller (the registry) looks up.

use lgmesh_proto::v1::{Envelope, ManifestBody};
use prost::Message;

use ed25519_zebra::{VerificationKey, VerificationKeyBytes};

use crate::envelope::{ManifestId, SignedManifest, VerifiedManifest, verify_batch, verify_with};
use crate::identity::PublisherKey;
use crate::schema::{self, FieldError};

/// Bounds applied by [`verify_bytes`].
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest encoded envelope accepted, in bytes.
    pub max_manifest_bytes: usize,
    /// How far in the future `issued_at_ms` may be, in milliseconds.
    pub max_clock_skew_ms: u64,
    /// Accept manifests that have already expired (importing history).
    pub allow_expired: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_manifest_bytes: 64 * 1024,
            max_clock_skew_ms: 5 * 60 * 1000,
            allow_expired: false,
        }
    }
}

/// Why a manifest was refused. Each is counted in metrics under [`Reason::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Reason {
    /// Larger than the limit.
    Size,
    /// Not a decodable envelope or body.
    Decode,
    /// Missing or malformed fields.
    Schema,
    /// The signature does not verify.
    Signature,
    /// Issued in the future, or expired.
    Time,
    /// A version lower than the head (stale: never replaces the head).
    Rollback,
    /// The same version as the head with a different body.
    Equivocation,
    /// The name was retracted: nothing after the tombstone.
    Retracted,
    /// Policy: the publisher is not verified here and has used its quota of manifests
    /// or bytes on this node.
    Quota,
    /// The key was revoked (or rotated away from) before this was signed.
    Revoked,
}

impl Reason {
    /// Every reason, for metrics.
    pub const ALL: [Reason; 10] = [
        Reason::Size,
        Reason::Decode,
        Reason::Schema,
        Reason::Signature,
        Reason::Time,
        Reason::Rollback,
        Reason::Equivocation,
        Reason::Retracted,
        Reason::Quota,
        Reason::Revoked,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Size => "size",
            Reason::Decode => "decode",
            Reason::Schema => "schema",
            Reason::Signature => "signature",
            Reason::Time => "time",
            Reason::Rollback => "rollback",
            Reason::Equivocation => "equivocation",
            Reason::Retracted => "retracted",
            Reason::Quota => "quota",
            Reason::Revoked => "revoked",
        }
    }

    /// Does the peer that passed it on deserve a strike? Only for what no honest node
    /// relays: undecodable, malformed or forged data. Not for times: clocks differ, and
    /// a manifest expires while it travels or waits in an honest peer's store.
    pub fn strikes_sender(self) -> bool {
        matches!(
            self,
            Reason::Size | Reason::Decode | Reason::Schema | Reason::Signature
        )
    }

    /// Is the input itself bad (as opposed to conflicting with what is stored)?
    pub fn is_bad_input(self) -> bool {
        matches!(
            self,
            Reason::Size | Reason::Decode | Reason::Schema | Reason::Signature | Reason::Time
        )
    }
}

/// A refused manifest: the reason, and a message naming the field where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", reason.as_str())]
pub struct Rejection {
    /// Why.
    pub reason: Reason,
    /// For people: what exactly is wrong.
    pub message: String,
    /// The fields at fault (schema errors).
    pub fields: Vec<FieldError>,
}

impl Rejection {
    /// A rejection with a message.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            fields: vec![],
        }
    }
}

/// What became of a manifest offered to a store.
#[derive(Debug, Clone)]
pub enum PutOutcome {
    /// Stored; it is now the head of its `(publisher, name)` (or, for an equivocation
    /// proof, the proof is held).
    Stored(ManifestId),
    /// Already stored (same id).
    Duplicate(ManifestId),
    /// Refused, with the reason. Nothing was stored, except that an equivocating
    /// manifest is kept as evidence.
    Rejected(Rejection),
}

/// A batch checked without a store, as a store's write takes it: each manifest
/// verified (size, encoding, schema, signature, times) or refused, and each
/// equivocation proof (two envelopes of one publisher) likewise, in input order.
#[derive(Debug, Default)]
pub struct Checked {
    /// The manifests.
    pub manifests: Vec<Result<VerifiedManifest, Rejection>>,
    /// The equivocation proofs: both envelopes verified, or why not.
    pub proofs: Vec<Result<(VerifiedManifest, VerifiedManifest), Rejection>>,
}

impl Checked {
    /// Manifests and proofs together.
    pub fn len(&self) -> usize {
        self.manifests.len() + self.proofs.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Checks size, encoding, schema, signature and times of received envelope bytes.
pub fn verify_bytes(
    bytes: &[u8],
    limits: &Limits,
    now_ms: u64,
) -> Result<VerifiedManifest, Rejection> {
    let env = decode_envelope(bytes, limits)?;
    verify_parts(env.body, &env.signature, limits, now_ms)
}

/// As [`verify_bytes`], for a body and signature already apart.
pub fn verify_parts(
    body_bytes: Vec<u8>,
    signature: &[u8],
    limits: &Limits,
    now_ms: u64,
) -> Result<VerifiedManifest, Rejection> {
    let u = unsigned(body_bytes, signature, limits)?;
    let ok = verify_with(&u.key, &u.body_bytes, &u.signature);
    signed(u, ok, limits, now_ms)
}

/// How many signatures [`verify_many`] checks as one batch. Batches this size already
/// save nearly all there is to save; a bad signature sends at most this many to be
/// checked one at a time.
const BATCH: usize = 128;

/// As [`verify_bytes`] for each of `items`, with the same verdicts in the same order,
/// but the signatures checked in batches, which costs about a third as much CPU as
/// checking each alone (see [`crate::envelope::verify`] for why the verdicts are the
/// same). For pages of manifests from sync and for imports.
pub fn verify_many(
    items: &[Vec<u8>],
    limits: &Limits,
    now_ms: u64,
) -> Vec<Result<VerifiedManifest, Rejection>> {
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(BATCH) {
        let pending: Vec<Result<Unsigned, Rejection>> = chunk
            .iter()
            .map(|bytes| {
                let env = decode_envelope(bytes, limits)?;
                unsigned(env.body, &env.signature, limits)
            })
            .collect();
        let to_check: Vec<_> = pending
            .iter()
            .map(|u| {
                u.as_ref().ok().map(|u| {
                    (
                        VerificationKeyBytes::from(*u.publisher.as_bytes()),
                        u.signature,
                        u.body_bytes.as_slice(),
                    )
                })
            })
            .collect();
        let verdicts = verify_batch(&to_check);
        out.extend(
            pending
                .into_iter()
                .zip(verdicts)
                .map(|(u, ok)| signed(u?, ok, limits, now_ms)),
        );
    }
    out
}

fn decode_envelope(bytes: &[u8], limits: &Limits) -> Result<Envelope, Rejection> {
    if bytes.len() > limits.max_manifest_bytes {
        return Err(Rejection::new(
            Reason::Size,
            format!(
                "manifest: {} bytes is over the limit of {}",
                bytes.len(),
                limits.max_manifest_bytes
            ),
        ));
    }
    Envelope::decode(bytes).map_err(|e| Rejection::new(Reason::Decode, format!("envelope: {e}")))
}

/// A manifest that has passed every check before its signature.
struct Unsigned {
    body_bytes: Vec<u8>,
    body: ManifestBody,
    publisher: PublisherKey,
    key: VerificationKey,
    signature: [u8; 64],
}

/// Size, decoding, schema, and whether the publisher key may sign.
fn unsigned(body_bytes: Vec<u8>, signature: &[u8], limits: &Limits) -> Result<Unsigned, Rejection> {
    if body_bytes.len() + signature.len() > limits.max_manifest_bytes {
        return Err(Rejection::new(
            Reason::Size,
            format!(
                "manifest: over the limit of {} bytes",
                limits.max_manifest_bytes
            ),
        ));
    }
    let body = ManifestBody::decode(body_bytes.as_slice())
        .map_err(|e| Rejection::new(Reason::Decode, format!("body: {e}")))?;
    if let Err(fields) = schema::check_body(&body) {
        return Err(Rejection {
            reason: Reason::Schema,
            message: schema::join(&fields),
            fields,
        });
    }
    let key_bytes: [u8; 32] = body
        .publisher
        .as_slice()
        .try_into()
        .map_err(|_| Rejection::new(Reason::Schema, "publisher: must be 32 bytes"))?;
    let key = crate::identity::signer(&key_bytes).ok_or_else(|| {
        Rejection::new(
            Reason::Schema,
            "publisher: not an ed25519 public key that can sign (a canonical point of prime order)",
        )
    })?;
    let signature: [u8; 64] = signature.try_into().map_err(|_| {
        Rejection::new(
            Reason::Signature,
            format!("signature: must be 64 bytes, got {}", signature.len()),
        )
    })?;
    Ok(Unsigned {
        body_bytes,
        body,
        publisher: PublisherKey::from_checked(key_bytes),
        key,
        signature,
    })
}

/// The signature's verdict (`ok`), then the times.
fn signed(
    u: Unsigned,
    ok: bool,
    limits: &Limits,
    now_ms: u64,
) -> Result<VerifiedManifest, Rejection> {
    if !ok {
        return Err(Rejection::new(
            Reason::Signature,
            format!("signature: does not verify for {}", u.publisher),
        ));
    }
    let body = u.body;
    if body.issued_at_ms > now_ms.saturating_add(limits.max_clock_skew_ms) {
        return Err(Rejection::new(
            Reason::Time,
            "issuedAt: in the future beyond the allowed clock skew",
        ));
    }
    if !limits.allow_expired && body.expires_at_ms <= now_ms {
        return Err(Rejection::new(
            Reason::Time,
            "expiresAt: the manifest has expired",
        ));
    }
    let id = ManifestId::of(&u.body_bytes);
    Ok(VerifiedManifest {
        id,
        publisher: u.publisher,
        signed: SignedManifest {
            body: u.body_bytes,
            signature: u.signature,
        },
        body,
    })
}

/// The current head of a `(publisher, name)`, as the store knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Its id.
    pub id: ManifestId,
    /// Its version.
    pub version: u64,
    /// Is it a tombstone?
    pub retracted: bool,
}

/// Where a verified manifest goes, relative to the current head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// It becomes the new head.
    NewHead,
    /// It is the head already (same id).
    Duplicate,
}

/// Decides a verified manifest's place against the current head: the version and
/// retraction rules. Equivocation and rollback are rejections (the caller may keep an
/// equivocating manifest as evidence).
pub fn place(m: &VerifiedManifest, head: Option<&Head>) -> Result<Placement, Rejection> {
    let Some(head) = head else {
        return Ok(Placement::NewHead);
    };
    let v = m.version();
    if head.id == m.id() {
        return Ok(Placement::Duplicate);
    }
    if v == head.version {
        return Err(Rejection::new(
            Reason::Equivocation,
            format!(
                "version: {v} was already signed with a different body ({})",
                head.id.fmt_short()
            ),
        ));
    }
    if v < head.version {
        return Err(Rejection::new(
            Reason::Rollback,
            format!("version: {v} is lower than the head's {}", head.version),
        ));
    }
    if head.retracted {
        return Err(Rejection::new(
            Reason::Retracted,
            format!(
                "name: {:?} was retracted at version {}",
                m.name(),
                head.version
            ),
        ));
    }
    Ok(Placement::NewHead)
}

/// The result of [`validate`].
#[derive(Debug)]
pub enum Verdict {
    /// Valid; where it goes.
    Accept(Box<VerifiedManifest>, Placement),
    /// Refused. The manifest is included when its signature verified (an equivocating
    /// manifest is kept as evidence).
    Reject(Option<Box<VerifiedManifest>>, Rejection),
}

/// The whole validation, in order: [`verify_bytes`] (size, decode, schema, signature,
/// time), then [`place`] against the head that `head_of` gives (version, equivocation,
/// retraction). Every ingress path calls this.
pub fn validate<E>(
    bytes: &[u8],
    limits: &Limits,
    now_ms: u64,
    head_of: impl FnOnce(&PublisherKey, &str) -> Result<Option<Head>, E>,
) -> Result<Verdict, E> {
    let m = match verify_bytes(bytes, limits, now_ms) {
        Ok(m) => m,
        Err(r) => return Ok(Verdict::Reject(None, r)),
    };
    let head = head_of(m.publisher(), m.name())?;
    Ok(match place(&m, head.as_ref()) {
        Ok(p) => Verdict::Accept(Box::new(m), p),
        Err(r) => Verdict::Reject(Some(Box::new(m)), r),
    })
}
