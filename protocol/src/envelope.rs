//! The signed envelope: a body encoded once, signed over a domain-separated message,
//! identified by the SHA-256 of its bytes.
//!
//! Types per stage: an [`UnsignedManifest`] is signed into [`SignedManifest`] bytes;
//! only [`crate::validate`] turns received bytes into a [`VerifiedManifest`].

use std::{fmt, str::FromStr};

use ed25519_zebra::{Signature, VerificationKey, VerificationKeyBytes, batch};
use lgmesh_proto::v1::ManifestBody;
use prost::Message;
use sha2::{Digest, Sha256};

use crate::identity::{PublisherKey, SecretKey};

/// What every signature is over: this, then the body bytes.
pub const SIGNING_DOMAIN: &[u8] = b"lgmesh/manifest/v1\0";

/// A manifest id: SHA-256 of the body bytes. Shown as 64 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManifestId(pub [u8; 32]);

/// Bytes of a manifest id that name it in a sync fetch, and the fewest a store looks an
/// id up by: half the id's bytes on the wire, and still 128 bits, so that two honest
/// ids never share them (a forger who makes two share them only fetches its own twice).
pub const ID_PREFIX_LEN: usize = 16;

impl ManifestId {
    /// The id of these body bytes.
    pub fn of(body: &[u8]) -> Self {
        Self(Sha256::digest(body).into())
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 12 hex characters, for logs and tables.
    pub fn fmt_short(&self) -> String {
        hex::encode(&self.0[..6])
    }

    /// The id of an equivocation proof: two manifests of one publisher that contradict
    /// each other (two bodies of one version, or two of a statement a key makes once).
    /// SHA-256 of `"lgmesh/evidence/v1" || 0x00 ||` the two ids in ascending order, so
    /// both orders give one id, and no manifest id can equal it.
    pub fn of_evidence(a: &ManifestId, b: &ManifestId) -> Self {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let mut h = Sha256::new();
        h.update(b"lgmesh/evidence/v1\0");
        h.update(lo.0);
        h.update(hi.0);
        Self(h.finalize().into())
    }
}

impl fmt::Display for ManifestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ManifestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManifestId({})", self.fmt_short())
    }
}

impl FromStr for ManifestId {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out)
            .map_err(|_| "a manifest id is 64 hex characters")?;
        Ok(Self(out))
    }
}

/// A body not yet signed.
#[derive(Debug, Clone)]
pub struct UnsignedManifest(pub ManifestBody);

impl UnsignedManifest {
    /// Encodes the body once and signs those bytes. The body's `publisher` is set to the
    /// key's public half.
    pub fn sign(mut self, key: &SecretKey) -> SignedManifest {
        self.0.publisher = key.public().as_bytes().to_vec();
        let body = self.0.encode_to_vec();
        let signature = key.sign(&signing_message(&body));
        SignedManifest { body, signature }
    }
}

/// A signed manifest: body bytes and signature, not yet checked by anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedManifest {
    /// The body bytes exactly as signed.
    pub body: Vec<u8>,
    /// The ed25519 signature over [`SIGNING_DOMAIN`] || body.
    pub signature: [u8; 64],
}

impl SignedManifest {
    /// The wire and storage form: an encoded [`Envelope`](lgmesh_proto::v1::Envelope).
    pub fn to_bytes(&self) -> Vec<u8> {
        // The same bytes as encoding an `Envelope`, without copying the body into one.
        use prost::encoding::{
            WireType, bytes, encode_key, encode_varint, encoded_len_varint, key_len,
        };
        let len = key_len(1)
            + encoded_len_varint(self.body.len() as u64)
            + self.body.len()
            + key_len(2)
            + encoded_len_varint(64)
            + 64;
        let mut out = Vec::with_capacity(len);
        if !self.body.is_empty() {
            bytes::encode(1, &self.body, &mut out);
        }
        encode_key(2, WireType::LengthDelimited, &mut out);
        encode_varint(64, &mut out);
        out.extend_from_slice(&self.signature);
        out
    }

    /// The id.
    pub fn id(&self) -> ManifestId {
        ManifestId::of(&self.body)
    }
}

/// The domain of the new key's signature in a key rotation.
pub const ROTATION_DOMAIN: &[u8] = b"lgmesh/key-rotation/v1\0";

fn rotation_message(old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut msg = ROTATION_DOMAIN.to_vec();
    msg.extend_from_slice(old);
    msg.extend_from_slice(new);
    msg
}

/// The new key's half of a key rotation: its signature over the old and new keys.
pub fn sign_rotation(new: &SecretKey, old: &PublisherKey) -> [u8; 64] {
    new.sign(&rotation_message(old.as_bytes(), new.public().as_bytes()))
}

/// Checks the new key's half of a key rotation, by the same rule as a manifest's
/// signature ([`verify`]).
pub fn verify_rotation(old: &[u8], new: &[u8], signature: &[u8]) -> bool {
    let Ok(new) = <[u8; 32]>::try_from(new) else {
        return false;
    };
    match crate::identity::signer(&new) {
        Some(vk) => check_one(&vk, &rotation_message(old, &new), signature),
        None => false,
    }
}

pub(crate) fn signing_message(body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(SIGNING_DOMAIN.len() + body.len());
    msg.extend_from_slice(SIGNING_DOMAIN);
    msg.extend_from_slice(body);
    msg
}

/// Checks a manifest's signature: the signature check alone, without decoding or
/// schema checks.
///
/// # The rule
///
/// The verification rules of [ZIP 215](https://zips.z.cash/zip-0215): `s` must be
/// canonical (below the group order `l`), `R` must be a point, and the cofactored
/// equation `[8][s]B = [8]R + [8][k]A` must hold, with `k = SHA-512(R || A || message)`.
/// The publisher key `A` must in addition be the canonical encoding of a point of prime
/// order (see `identity::signer`).
///
/// Every signature an RFC 8032 signer makes passes, and so does every signature that
/// passed the `verify_strict` rule used before (by such a key). What ZIP 215 buys is
/// that checking many signatures at once ([`crate::validate::verify_many`], about a
/// third of the CPU a signature) gives exactly the verdicts of checking each alone. No
/// rule that is stricter about `R` can promise that, so nodes checking batches and
/// nodes checking one at a time would disagree about what a signature of a malicious
/// publisher is worth, and their stores would differ. Nothing a third party can do to
/// a valid signature makes another valid one.
pub fn verify(publisher: &PublisherKey, body: &[u8], signature: &[u8]) -> bool {
    match crate::identity::signer(publisher.as_bytes()) {
        Some(vk) => verify_with(&vk, body, signature),
        None => false,
    }
}

/// As [`verify`], with the key already checked.
pub(crate) fn verify_with(vk: &VerificationKey, body: &[u8], signature: &[u8]) -> bool {
    check_one(vk, &signing_message(body), signature)
}

fn check_one(vk: &VerificationKey, message: &[u8], signature: &[u8]) -> bool {
    let Ok(sig) = Signature::from_slice(signature) else {
        return false;
    };
    vk.verify(&sig, message).is_ok()
}

/// A signature to check in a batch: the key, the signature, and the body it signs.
pub(crate) type ToCheck<'a> = (VerificationKeyBytes, [u8; 64], &'a [u8]);

/// Checks many signatures at once, giving the verdict [`verify_with`] would give each.
/// An item is `None` when it was refused before its signature mattered; those stay
/// `false`. When the batch fails, each is checked alone to find which.
pub(crate) fn verify_batch(items: &[Option<ToCheck<'_>>]) -> Vec<bool> {
    let queued: Vec<Option<batch::Item>> = items
        .iter()
        .map(|i| {
            i.map(|(vk, sig, body)| {
                batch::Item::from((vk, Signature::from_bytes(&sig), &signing_message(body)))
            })
        })
        .collect();
    let mut verifier = batch::Verifier::new();
    for item in queued.iter().flatten() {
        verifier.queue(item.clone());
    }
    if verifier.verify(rand::rng()).is_ok() {
        return queued.iter().map(Option::is_some).collect();
    }
    queued
        .into_iter()
        .map(|i| i.is_some_and(|i| i.verify_single().is_ok()))
        .collect()
}

/// A manifest whose size, encoding, schema, signature and times have been checked.
/// Only [`crate::validate`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedManifest {
    pub(crate) id: ManifestId,
    pub(crate) publisher: PublisherKey,
    pub(crate) signed: SignedManifest,
    pub(crate) body: ManifestBody,
}

impl VerifiedManifest {
    /// The id (SHA-256 of the body bytes).
    pub fn id(&self) -> ManifestId {
        self.id
    }

    /// The publisher.
    pub fn publisher(&self) -> &PublisherKey {
        &self.publisher
    }

    /// The decoded body (for reading only: never re-encode it).
    pub fn body(&self) -> &ManifestBody {
        &self.body
    }

    /// The body bytes and signature as received.
    pub fn signed(&self) -> &SignedManifest {
        &self.signed
    }

    /// The manifest name.
    pub fn name(&self) -> &str {
        &self.body.name
    }

    /// The version.
    pub fn version(&self) -> u64 {
        self.body.version
    }

    /// Is this a tombstone?
    pub fn is_retraction(&self) -> bool {
        matches!(
            self.body.kind,
            Some(lgmesh_proto::v1::manifest_body::Kind::Retraction(_))
        )
    }
}
