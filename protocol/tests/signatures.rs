//! The signature rule (ZIP 215, with keys that can sign): checking a batch gives each
//! manifest exactly the verdict checking it alone does, including on the edge cases
//! where other ed25519 rules disagree with themselves.

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use lgmesh_protocol::envelope::{SIGNING_DOMAIN, UnsignedManifest};
use lgmesh_protocol::identity::SecretKey;
use lgmesh_protocol::sample;
use lgmesh_protocol::v1::{Envelope, ManifestBody};
use lgmesh_protocol::validate::{self, Limits, Reason};
use prost::Message;
use sha2::{Digest, Sha512};

const NOW: u64 = 1_790_000_000_000;
const DAY: u64 = 86_400_000;

fn body(name: &str) -> ManifestBody {
    sample::service(
        name,
        1,
        "Shared",
        "A shared council service.",
        &[],
        &[],
        NOW,
    )
}

/// Signs by hand, as a publisher crafting odd signatures would: key `A` (any point),
/// secret scalar `a`, nonce `r`, and `twist` added to `R` (zero for a normal signature).
fn craft(name: &str, a: Scalar, key: EdwardsPoint, r: Scalar, twist: EdwardsPoint) -> Vec<u8> {
    let mut b = body(name);
    b.publisher = key.compress().as_bytes().to_vec();
    let body = b.encode_to_vec();
    let big_r = EdwardsPoint::mul_base(&r) + twist;
    let mut h = Sha512::new();
    h.update(big_r.compress().as_bytes());
    h.update(key.compress().as_bytes());
    h.update(SIGNING_DOMAIN);
    h.update(&body);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    let s = r + k * a;
    let mut signature = big_r.compress().as_bytes().to_vec();
    signature.extend_from_slice(s.as_bytes());
    Envelope { body, signature }.encode_to_vec()
}

fn scalar(seed: u8) -> Scalar {
    Scalar::from_bytes_mod_order([seed; 32])
}

/// What verification said, in a form two runs can be compared by.
fn verdict(
    r: &Result<lgmesh_protocol::envelope::VerifiedManifest, validate::Rejection>,
) -> Result<[u8; 32], Reason> {
    r.as_ref().map(|m| m.id().0).map_err(|e| e.reason)
}

fn alone(items: &[Vec<u8>]) -> Vec<Result<[u8; 32], Reason>> {
    items
        .iter()
        .map(|b| verdict(&validate::verify_bytes(b, &Limits::default(), NOW)))
        .collect()
}

fn batched(items: &[Vec<u8>]) -> Vec<Result<[u8; 32], Reason>> {
    validate::verify_many(items, &Limits::default(), NOW)
        .iter()
        .map(verdict)
        .collect()
}

fn good(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let key = SecretKey::from_seed(&[(i % 7) as u8 + 1; 32]);
            UnsignedManifest(body(&format!("svc-{i}")))
                .sign(&key)
                .to_bytes()
        })
        .collect()
}

#[test]
fn a_batch_of_good_signatures_is_accepted_whole() {
    // 300 spans three batches, from seven publishers (whose terms the batch coalesces).
    let items = good(300);
    let v = batched(&items);
    assert!(v.iter().all(Result::is_ok));
    assert_eq!(v, alone(&items));
}

#[test]
fn a_batch_gives_each_manifest_the_verdict_it_gets_alone() {
    let mut items = good(40);
    let mut tampered = Envelope::decode(items[3].as_slice()).expect("decode");
    tampered.signature[10] ^= 1;
    items[3] = tampered.encode_to_vec();
    let mut other_sig = Envelope::decode(items[20].as_slice()).expect("decode");
    other_sig.signature = Envelope::decode(items[21].as_slice())
        .expect("decode")
        .signature;
    items[20] = other_sig.encode_to_vec();
    items[30] = vec![0xff, 0x01];
    let mut short = Envelope::decode(items[31].as_slice()).expect("decode");
    short.signature.truncate(63);
    items[31] = short.encode_to_vec();
    let mut expired = sample::service("old", 1, "Old", "Gone.", &[], &[], NOW - 400 * DAY);
    expired.expires_at_ms = NOW - DAY;
    items[32] = UnsignedManifest(expired)
        .sign(&SecretKey::from_seed(&[9; 32]))
        .to_bytes();
    // `s` not reduced below the group order: refused by every rule.
    let mut big_s = Envelope::decode(items[33].as_slice()).expect("decode");
    big_s.signature[63] |= 0xf0;
    items[33] = big_s.encode_to_vec();

    let v = batched(&items);
    assert_eq!(v, alone(&items));
    for (i, reason) in [
        (3, Reason::Signature),
        (20, Reason::Signature),
        (30, Reason::Decode),
        (31, Reason::Signature),
        (32, Reason::Time),
        (33, Reason::Signature),
    ] {
        assert_eq!(v[i], Err(reason), "item {i}");
    }
    assert_eq!(v.iter().filter(|r| r.is_ok()).count(), 34);
}

#[test]
fn a_nonce_with_a_small_order_part_is_judged_the_same_in_a_batch_and_alone() {
    // R = rB + T with T of order 8: only the key's holder can make this, and the
    // cofactored equation holds. `verify_strict` refuses it; a batch checked with the
    // cofactorless equation would accept it one time in eight. Here both paths accept.
    let a = scalar(5);
    let key = EdwardsPoint::mul_base(&a);
    let twisted: Vec<Vec<u8>> = (0..8u8)
        .map(|i| {
            craft(
                &format!("odd-{i}"),
                a,
                key,
                scalar(40 + i),
                EIGHT_TORSION[1],
            )
        })
        .collect();
    let mut items = good(20);
    items.extend(twisted);
    let v = batched(&items);
    assert_eq!(v, alone(&items));
    assert!(v.iter().all(Result::is_ok));
    // And a normal signature made by hand is fine too (the crafting is right).
    let plain = craft("plain", a, key, scalar(7), EdwardsPoint::default());
    assert!(validate::verify_bytes(&plain, &Limits::default(), NOW).is_ok());
}

#[test]
fn keys_that_cannot_sign_are_refused_before_their_signatures() {
    let identity = EdwardsPoint::default();
    // Under the identity as a key, [k]A vanishes: s = r "signs" any message.
    let anyone = craft("forged", Scalar::ZERO, identity, scalar(3), identity);
    // A real key shifted by a point of order 8: the same secret, a second publisher.
    let a = scalar(6);
    let twin = craft(
        "twin",
        a,
        EdwardsPoint::mul_base(&a) + EIGHT_TORSION[1],
        scalar(8),
        identity,
    );
    // A point of order 8 as the key.
    let small = craft("small", Scalar::ZERO, EIGHT_TORSION[2], scalar(4), identity);
    let items = vec![anyone, twin, small];
    let v = batched(&items);
    assert_eq!(v, alone(&items));
    for (i, r) in v.iter().enumerate() {
        assert_eq!(*r, Err(Reason::Schema), "item {i}");
    }
    let e = validate::verify_bytes(&items[1], &Limits::default(), NOW).expect_err("twin");
    assert!(e.message.starts_with("publisher:"), "{}", e.message);
}
