//! The signed envelope: a body encoded once, signed over a domain-separated message,
//! identified by the SHA-256 of its bytes.
//!
//! Types per stage: an [`UnsignedManifest`] is signed into [`SignedManifest`] bytes;
//! only [`crate::validate`] turns received bytes into a [`VerifiedManifest`].

use std::{fmt, str::FromStr};

use ed25519_dalek::Signature;
use lgmesh_proto::v1::ManifestBody;
use prost::Message;
use sha2::{Digest, Sha256};

use crate::identity::{PublisherKey, SecretKey};

/// What every signature is over: this, then the body bytes.
pub const SIGNING_DOMAIN: &[u8] = b"lgmesh/manifest/v1\0";

/// A manifest id: SHA-256 of the body bytes. Shown as 64 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManifestId(pub [u8; 32]);

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

/// Checks the new key's half of a key rotation (strict verification).
pub fn verify_rotation(old: &[u8], new: &[u8], signature: &[u8]) -> bool {
    let (Ok(new_arr), Ok(sig)) = (<[u8; 32]>::try_from(new), Signature::from_slice(signature))
    else {
        return false;
    };
    match ed25519_dalek::VerifyingKey::from_bytes(&new_arr) {
        Ok(vk) => vk.verify_strict(&rotation_message(old, new), &sig).is_ok(),
        Err(_) => false,
    }
}

pub(crate) fn signing_message(body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(SIGNING_DOMAIN.len() + body.len());
    msg.extend_from_slice(SIGNING_DOMAIN);
    msg.extend_from_slice(body);
    msg
}

/// Checks a signature with `verify_strict` (no malleable or small-order keys): the raw
/// signature check alone, without decoding or schema checks, decompressing the key each
/// time (validation takes it from a cache). Benchmarks compare against it.
pub fn verify(publisher: &PublisherKey, body: &[u8], signature: &[u8]) -> bool {
    match ed25519_dalek::VerifyingKey::from_bytes(publisher.as_bytes()) {
        Ok(vk) => verify_with(&vk, body, signature),
        Err(_) => false,
    }
}

/// As [`verify`], with the key already decompressed.
pub(crate) fn verify_with(vk: &ed25519_dalek::VerifyingKey, body: &[u8], signature: &[u8]) -> bool {
    let Ok(sig) = Signature::from_slice(signature) else {
        return false;
    };
    vk.verify_strict(&signing_message(body), &sig).is_ok()
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
