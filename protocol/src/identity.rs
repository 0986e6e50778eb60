//! Identities: publisher keys named as W3C `did:key`, their secret halves, and
//! organisation ids (`scheme:value`).

use std::{fmt, str::FromStr};

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signer, SigningKey};
use ed25519_zebra::VerificationKey;
use zeroize::Zeroizing;

/// The multicodec prefix of an ed25519 public key (0xed as an unsigned varint).
const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];
const DID_KEY_PREFIX: &str = "did:key:z";

/// Why a key or id could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Not a `did:key:z…` string, or not an ed25519 key.
    #[error("not an ed25519 did:key ({0})")]
    DidKey(&'static str),
    /// 32 bytes expected.
    #[error("an ed25519 public key is 32 bytes, got {0}")]
    KeyLength(usize),
    /// The bytes are not a valid point on the curve.
    #[error("not a valid ed25519 public key")]
    InvalidKey,
    /// An organisation id that does not parse.
    #[error("organisation id {0}")]
    OrgId(String),
}

/// A publisher's ed25519 public key. Shown and parsed as `did:key:z6Mk…`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublisherKey([u8; 32]);

impl PublisherKey {
    /// Reads a key from its 32 raw bytes, checking that it is a point on the curve.
    /// (Whether it may sign is decided when a signature is checked.)
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdentityError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| IdentityError::KeyLength(bytes.len()))?;
        if signer(&arr).is_none() && CompressedEdwardsY(arr).decompress().is_none() {
            return Err(IdentityError::InvalidKey);
        }
        Ok(Self(arr))
    }

    /// Reads a key back from this node's own store, which holds only keys that were
    /// checked when they arrived: checks the length alone. The full check (a curve
    /// point of prime order) costs a scalar multiplication once the key cache is full,
    /// and judging thousands of stored keys must not pay it again for each. Never for
    /// bytes from outside the process.
    pub fn from_stored(bytes: &[u8]) -> Result<Self, IdentityError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| IdentityError::KeyLength(bytes.len()))?;
        Ok(Self(arr))
    }

    /// A key whose bytes [`signer`] has already checked.
    pub(crate) fn from_checked(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short form for logs: the last 8 characters of the did:key.
    pub fn fmt_short(&self) -> String {
        let s = self.to_string();
        format!("…{}", &s[s.len().saturating_sub(8)..])
    }
}

/// How many signing keys [`signer`] keeps. A federation has a few thousand publishers;
/// a flood of fresh keys only costs what every key cost without the cache.
const KEY_CACHE_ENTRIES: usize = 8192;

/// The key for 32 bytes, ready to check signatures, or `None` if those bytes may not
/// sign anything: they must be the canonical encoding of a point in the prime-order
/// subgroup, which every key an ed25519 implementation generates is.
///
/// The signature rule ([`crate::envelope`]) is ZIP 215's, which by itself accepts any
/// encoding of any point as a key. Refusing the rest here closes what that leaves open:
/// a small-order key (under which anyone can "sign" anything), and a second encoding or a
/// torsion-shifted twin of a real key (one secret showing as two publishers).
///
/// The checks (a field square root and a scalar multiplication) cost more than a
/// signature check, and the same few thousand publishers sign everything a node receives,
/// so accepted keys are cached. Refused ones are not (nothing an attacker sends can fill
/// the cache with them); when the cache is full it starts again, which costs honest keys
/// one more check each.
pub(crate) fn signer(bytes: &[u8; 32]) -> Option<VerificationKey> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<[u8; 32], VerificationKey>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(vk) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(bytes) {
        return Some(*vk);
    }
    let point = CompressedEdwardsY(*bytes).decompress()?;
    if point.compress().as_bytes() != bytes || point.is_small_order() || !point.is_torsion_free() {
        return None;
    }
    let vk = VerificationKey::try_from(*bytes).ok()?;
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= KEY_CACHE_ENTRIES {
        map.clear();
    }
    map.insert(*bytes, vk);
    Some(vk)
}

impl fmt::Display for PublisherKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = Vec::with_capacity(34);
        buf.extend_from_slice(&ED25519_MULTICODEC);
        buf.extend_from_slice(&self.0);
        write!(f, "{DID_KEY_PREFIX}{}", bs58::encode(buf).into_string())
    }
}

impl fmt::Debug for PublisherKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublisherKey({self})")
    }
}

impl FromStr for PublisherKey {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let b58 = s
            .strip_prefix(DID_KEY_PREFIX)
            .ok_or(IdentityError::DidKey("must start with did:key:z"))?;
        if b58.len() > 64 {
            return Err(IdentityError::DidKey("too long"));
        }
        let raw = bs58::decode(b58)
            .into_vec()
            .map_err(|_| IdentityError::DidKey("not base58btc"))?;
        let key = raw
            .strip_prefix(&ED25519_MULTICODEC)
            .ok_or(IdentityError::DidKey("not an ed25519-pub multicodec key"))?;
        Self::from_bytes(key)
    }
}

/// A publisher's secret signing key. Zeroized on drop; never printed.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut())?;
        Ok(Self::from_seed(&seed))
    }

    /// The key with this 32-byte seed (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed, for writing to a key file.
    pub fn to_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public half.
    pub fn public(&self) -> PublisherKey {
        PublisherKey(self.0.verifying_key().to_bytes())
    }

    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}, secret hidden)", self.public())
    }
}

/// An organisation id, `scheme:value`, e.g. `gss:E07000209`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(String);

impl OrgId {
    /// The scheme (before the colon).
    pub fn scheme(&self) -> &str {
        self.0.split_once(':').map(|(s, _)| s).unwrap_or("")
    }

    /// The value (after the colon).
    pub fn value(&self) -> &str {
        self.0.split_once(':').map(|(_, v)| v).unwrap_or("")
    }

    /// The whole id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for OrgId {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |m: &str| IdentityError::OrgId(format!("{s:?}: {m}"));
        let (scheme, value) = s
            .split_once(':')
            .ok_or_else(|| err("must be scheme:value, e.g. gss:E07000209"))?;
        if value.is_empty() || value.len() > 200 || value.chars().any(char::is_whitespace) {
            return Err(err("the value must be 1-200 characters with no spaces"));
        }
        match scheme {
            "gss" if !is_gss_code(value) => {
                return Err(err(
                    "a GSS code is a capital letter and 8 digits, e.g. E07000209",
                ));
            }
            "ch" if !(value.len() == 8 && value.chars().all(|c| c.is_ascii_alphanumeric())) => {
                return Err(err(
                    "a Companies House number is 8 characters, e.g. 01234567",
                ));
            }
            "charity"
                if !(value.len() >= 6
                    && value.len() <= 12
                    && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')) =>
            {
                return Err(err(
                    "a charity number is 6-12 digits or letters, e.g. 1234567",
                ));
            }
            "gov" | "dev" if !is_slug(value) => {
                return Err(err("the value must be a slug of a-z, 0-9 and '-'"));
            }
            "domain" if !value.contains('.') || !is_hostname(value) => {
                return Err(err(
                    "the value must be a domain name, e.g. guildford.gov.uk",
                ));
            }
            "gss" | "ch" | "charity" | "gov" | "dev" | "domain" => {}
            _ => {
                return Err(err(
                    "unknown scheme; use gss, ch, charity, gov, domain or dev",
                ));
            }
        }
        Ok(Self(s.to_owned()))
    }
}

/// An ONS GSS code: one capital letter and eight digits, e.g. `E07000209`.
pub fn is_gss_code(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 9 && b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit)
}

/// A manifest name: 1-64 of `a-z 0-9 -`, starting with a letter or digit.
pub fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !s.starts_with('-')
}

fn is_hostname(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

/// Makes a manifest name from free text: lower case, runs of other characters as '-'.
pub fn slugify(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 64 {
            break;
        }
    }
    out.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// did:key ed25519 vectors published with the W3C CCG did:key work
    /// (did ↔ publicKeyBase58 of the verification method).
    const VECTORS: &[(&str, &str)] = &[
        (
            "did:key:z6MkmjY8GnV5i9YTDtPETC2uUAW6ejw3nk5mXF5yci5ab7th",
            "8HH5gYEeNc3z7PYXmd54d4x6qAfCNrqQqEB3nS7Zfu7K",
        ),
        (
            "did:key:z6MkwJSaEMnE4u6LiqrZV1BJHSkc9x8S4mTm3ArNL1m19BZR",
            "HrBXe7XnjMbscM1roSDTSMCcLNraetDQM9wSVjnzDxn3",
        ),
    ];

    /// The ed25519 examples in the W3C did:key method specification.
    const SPEC_EXAMPLES: &[&str] = &[
        "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
        "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
        "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf",
        "did:key:z6MktKwz7Ge1Yxzr4JHavN33wiwa8y81QdcMRLXQsrH9T53b",
    ];

    #[test]
    fn did_key_vectors() {
        for (did, b58) in VECTORS {
            let raw = bs58::decode(b58).into_vec().expect("vector is base58");
            let key = PublisherKey::from_bytes(&raw).expect("vector is a key");
            assert_eq!(&key.to_string(), did);
            assert_eq!(did.parse::<PublisherKey>().expect("parses"), key);
        }
        for did in SPEC_EXAMPLES {
            let key: PublisherKey = did.parse().expect("spec example parses");
            assert_eq!(&key.to_string(), did);
        }
    }

    #[test]
    fn did_key_rejects() {
        for bad in [
            "",
            "did:key:",
            "did:web:example.com",
            "did:key:zTjsVPtY",
            "did:key:z6LSfHfAMAopsuBxaBzvp51GXrPf38Az13j2fmwqadbwwrzJ", // x25519
            "did:key:z0OIl",
        ] {
            assert!(
                bad.parse::<PublisherKey>().is_err(),
                "{bad} must be refused"
            );
        }
    }

    #[test]
    fn org_ids() {
        for ok in [
            "gss:E07000209",
            "gss:S12000036",
            "ch:01234567",
            "gov:dwp",
            "domain:guildford.gov.uk",
            "dev:local-1",
            "charity:1234567",
        ] {
            assert!(ok.parse::<OrgId>().is_ok(), "{ok}");
        }
        for bad in [
            "E07000209",
            "gss:e07000209",
            "gss:E0700020",
            "gss:E070002099",
            "zz:1",
            "gov:Bad Name",
            "domain:localhost",
            "gss:",
        ] {
            assert!(bad.parse::<OrgId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(
            slugify("https://example.org/Food Alerts/"),
            "https-example-org-food-alerts"
        );
        assert!(is_slug("address-lookup"));
        assert!(!is_slug("-x") && !is_slug("A") && !is_slug(""));
    }

    proptest! {
        #[test]
        fn did_key_round_trip(seed in any::<[u8; 32]>()) {
            let key = SecretKey::from_seed(&seed).public();
            let s = key.to_string();
            prop_assert!(s.starts_with("did:key:z6Mk"));
            prop_assert_eq!(s.parse::<PublisherKey>().expect("round trip"), key);
        }

        #[test]
        fn did_key_parse_never_panics(s in "\\PC{0,80}") {
            let _ = s.parse::<PublisherKey>();
            let _ = s.parse::<OrgId>();
        }
    }
}
