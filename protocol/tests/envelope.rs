//! Sign, verify and tamper: property tests over the envelope and the validation order.

use lgmesh_protocol::envelope::{ManifestId, UnsignedManifest};
use lgmesh_protocol::identity::SecretKey;
use lgmesh_protocol::sample;
use lgmesh_protocol::v1::{Envelope, ManifestBody};
use lgmesh_protocol::validate::{self, Head, Limits, Placement, Reason};
use proptest::prelude::*;
use prost::Message;

const NOW: u64 = 1_790_000_000_000;

fn body(name: &str, version: u64, title: &str) -> ManifestBody {
    sample::service(
        name,
        version,
        title,
        "Looks up addresses by postcode.",
        &[],
        &[],
        NOW,
    )
}

fn limits() -> Limits {
    Limits::default()
}

#[test]
fn signed_manifest_verifies_and_id_is_sha256_of_body() {
    let key = SecretKey::from_seed(&[1; 32]);
    let signed = UnsignedManifest(body("address-lookup", 1, "Address lookup")).sign(&key);
    let m = validate::verify_bytes(&signed.to_bytes(), &limits(), NOW).expect("valid");
    assert_eq!(m.id(), ManifestId::of(&signed.body));
    assert_eq!(m.publisher(), &key.public());
    assert_eq!(m.signed().body, signed.body, "the exact bytes are kept");
}

#[test]
fn each_reason_is_named() {
    let key = SecretKey::from_seed(&[2; 32]);
    let good = UnsignedManifest(body("a", 1, "A")).sign(&key);
    let reason = |bytes: &[u8]| {
        validate::verify_bytes(bytes, &limits(), NOW)
            .expect_err("must fail")
            .reason
    };

    assert_eq!(reason(&vec![0u8; 70_000]), Reason::Size);
    assert_eq!(reason(&[0xff, 0xff, 0xff]), Reason::Decode);

    let mut no_title = body("a", 1, "");
    no_title.name = "a".into();
    let e = validate::verify_bytes(
        &UnsignedManifest(no_title).sign(&key).to_bytes(),
        &limits(),
        NOW,
    )
    .expect_err("schema");
    assert_eq!(e.reason, Reason::Schema);
    assert!(e.message.contains("title"), "{}", e.message);

    let mut sig = good.clone();
    sig.signature[0] ^= 1;
    assert_eq!(reason(&sig.to_bytes()), Reason::Signature);

    let mut future = body("a", 1, "A");
    future.issued_at_ms = NOW + 60 * 60 * 1000;
    future.expires_at_ms = future.issued_at_ms + 1000;
    assert_eq!(
        reason(&UnsignedManifest(future).sign(&key).to_bytes()),
        Reason::Time
    );

    let mut expired = body("a", 1, "A");
    expired.issued_at_ms = NOW - 2000;
    expired.expires_at_ms = NOW - 1000;
    assert_eq!(
        reason(&UnsignedManifest(expired).sign(&key).to_bytes()),
        Reason::Time
    );
}

#[test]
fn versions_against_the_head() {
    let key = SecretKey::from_seed(&[3; 32]);
    let v2 = validate::verify_bytes(
        &UnsignedManifest(body("a", 2, "A")).sign(&key).to_bytes(),
        &limits(),
        NOW,
    )
    .expect("ok");
    let other_v2 = validate::verify_bytes(
        &UnsignedManifest(body("a", 2, "B")).sign(&key).to_bytes(),
        &limits(),
        NOW,
    )
    .expect("ok");
    let head = |m: &lgmesh_protocol::envelope::VerifiedManifest, retracted| Head {
        id: m.id(),
        version: m.version(),
        retracted,
    };

    assert_eq!(validate::place(&v2, None), Ok(Placement::NewHead));
    assert_eq!(
        validate::place(&v2, Some(&head(&v2, false))),
        Ok(Placement::Duplicate)
    );
    assert_eq!(
        validate::place(&other_v2, Some(&head(&v2, false)))
            .expect_err("equivocation")
            .reason,
        Reason::Equivocation
    );
    let v1 = validate::verify_bytes(
        &UnsignedManifest(body("a", 1, "A")).sign(&key).to_bytes(),
        &limits(),
        NOW,
    )
    .expect("ok");
    assert_eq!(
        validate::place(&v1, Some(&head(&v2, false)))
            .expect_err("rollback")
            .reason,
        Reason::Rollback
    );
    let v3 = validate::verify_bytes(
        &UnsignedManifest(body("a", 3, "A")).sign(&key).to_bytes(),
        &limits(),
        NOW,
    )
    .expect("ok");
    assert_eq!(
        validate::place(&v3, Some(&head(&v2, true)))
            .expect_err("retracted")
            .reason,
        Reason::Retracted
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip(seed in any::<[u8; 32]>(), version in 1u64..u64::MAX, title in "[A-Za-z][A-Za-z ]{0,59}") {
        let key = SecretKey::from_seed(&seed);
        let signed = UnsignedManifest(body("svc", version, &title)).sign(&key);
        let bytes = signed.to_bytes();
        // The hand-written encoding is exactly prost's.
        let via_prost = prost::Message::encode_to_vec(&lgmesh_proto::v1::Envelope {
            body: signed.body.clone(),
            signature: signed.signature.to_vec(),
        });
        prop_assert_eq!(&bytes, &via_prost);
        let m = validate::verify_bytes(&bytes, &limits(), NOW).expect("valid");
        prop_assert_eq!(m.version(), version);
        prop_assert_eq!(m.publisher(), &key.public());
    }

    /// Flipping any one bit of the body or signature makes the manifest fail.
    #[test]
    fn any_tamper_is_caught(seed in any::<[u8; 32]>(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let key = SecretKey::from_seed(&seed);
        let signed = UnsignedManifest(body("svc", 1, "Address lookup")).sign(&key);
        let mut env = Envelope { body: signed.body.clone(), signature: signed.signature.to_vec() };
        let total = env.body.len() + env.signature.len();
        let i = pos.index(total);
        if i < env.body.len() { env.body[i] ^= 1 << bit } else { env.signature[i - env.body.len()] ^= 1 << bit }
        prop_assert!(validate::verify_bytes(&env.encode_to_vec(), &limits(), NOW).is_err());
    }

    /// Another key's signature never verifies.
    #[test]
    fn wrong_key_fails(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
        prop_assume!(a != b);
        let signed = UnsignedManifest(body("svc", 1, "X")).sign(&SecretKey::from_seed(&a));
        let other = UnsignedManifest(body("svc", 1, "X")).sign(&SecretKey::from_seed(&b));
        let env = Envelope { body: signed.body, signature: other.signature.to_vec() };
        prop_assert_eq!(validate::verify_bytes(&env.encode_to_vec(), &limits(), NOW).expect_err("must fail").reason, Reason::Signature);
    }

    /// Garbage never panics.
    #[test]
    fn garbage_is_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(validate::verify_bytes(&bytes, &limits(), NOW).is_err());
    }
}
