//! The kinds that make statements about keys and organisations rather than catalogue
//! entries: org cards, key rotations and revocations (with the manifest ids they leave
//! valid), endorsements of another key, adoptions of another council's service, and
//! needs. Most are bound to a name derived from what they are about.

use lgmesh_proto::v1::{self, ManifestBody};

use super::catalogue::{check_contact, check_local};
use super::text::{list, opt_url, text, text_lines};
use super::{
    Errors, MAX_VALID_IDS, ROTATION_NAME, adoption_name, endorsement_name, limits, revocation_name,
};
use crate::identity::{OrgId, is_slug};

pub(super) fn check_org(e: &mut Errors, o: &v1::OrgCard) {
    if o.org_id.is_empty() {
        e.push("orgId", "required");
    } else if let Err(err) = o.org_id.parse::<OrgId>() {
        e.push("orgId", err.to_string());
    }
    text(e, "name", &o.name, true, 200);
    if v1::OrgType::try_from(o.org_type).is_err() {
        e.push("orgType", format!("unknown value {}", o.org_type));
    }
    opt_url(e, "website", &o.website);
    if o.contact.is_some() {
        check_contact(e, "contact", o.contact.as_ref(), false);
    }
    if o.node_ids.len() > 16 {
        e.push("nodeIds", "at most 16 nodes");
    }
    list(
        e,
        "nodeIds",
        &o.node_ids,
        128,
        |s| s.chars().all(|c| c.is_ascii_alphanumeric()),
        "a PeerId",
    );
}

fn check_valid_ids(e: &mut Errors, ids: &[Vec<u8>]) {
    if ids.len() > MAX_VALID_IDS {
        e.push(
            "validIds",
            format!("at most {MAX_VALID_IDS} ids, got {}", ids.len()),
        );
        return;
    }
    let mut seen = std::collections::HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        if id.len() != 32 {
            e.push(
                format!("validIds[{i}]"),
                format!("a manifest id is 32 bytes, got {}", id.len()),
            );
        } else if !seen.insert(id.as_slice()) {
            e.push(format!("validIds[{i}]"), "named twice");
        }
    }
}

pub(super) fn check_rotation(e: &mut Errors, b: &ManifestBody, r: &v1::KeyRotation) {
    if b.name != ROTATION_NAME {
        e.push(
            "name",
            format!("a key rotation is always named {ROTATION_NAME:?}"),
        );
    }
    if r.new_key.len() != 32 {
        e.push(
            "newKey",
            format!("an ed25519 public key is 32 bytes, got {}", r.new_key.len()),
        );
        return;
    }
    check_valid_ids(e, &r.valid_ids);
    if r.new_key == b.publisher {
        e.push("newKey", "the new key must differ from the old one");
    } else if !crate::envelope::verify_rotation(&b.publisher, &r.new_key, &r.new_key_signature) {
        e.push(
            "newKeySignature",
            "not the new key's signature over the old and new keys",
        );
    }
}

pub(super) fn check_revocation(e: &mut Errors, b: &ManifestBody, r: &v1::Revocation) {
    if r.subject.len() != 32 {
        e.push(
            "subject",
            format!("an ed25519 public key is 32 bytes, got {}", r.subject.len()),
        );
    } else {
        let want = revocation_name(&r.subject);
        if b.name != want {
            e.push(
                "name",
                format!("a revocation of this key is named {want:?}"),
            );
        }
    }
    check_valid_ids(e, &r.valid_ids);
    if r.revoked_at_ms == 0 || r.revoked_at_ms > b.issued_at_ms {
        e.push("revokedAt", "required, and not after issuedAt");
    }
    text(e, "reason", &r.reason, false, 1000);
}

pub(super) fn check_endorsement(e: &mut Errors, b: &ManifestBody, x: &v1::Endorsement) {
    if x.subject.len() != 32 {
        e.push(
            "subject",
            format!("an ed25519 public key is 32 bytes, got {}", x.subject.len()),
        );
    } else {
        if x.subject == b.publisher {
            e.push("subject", "a publisher cannot endorse its own key");
        }
        let want = endorsement_name(&x.subject);
        if b.name != want {
            e.push(
                "name",
                format!("an endorsement of this key is named {want:?}"),
            );
        }
    }
    if let Err(err) = x.org_id.parse::<OrgId>() {
        e.push("orgId", err.to_string());
    }
    text(e, "note", &x.note, false, 1000);
}

pub(super) fn check_adoption(e: &mut Errors, b: &ManifestBody, a: &v1::Adoption) {
    if a.publisher.len() != 32 {
        e.push(
            "service.publisher",
            format!(
                "an ed25519 public key is 32 bytes, got {}",
                a.publisher.len()
            ),
        );
    }
    if !is_slug(&a.name) {
        e.push(
            "service.name",
            format!("{:?} is not a manifest name", a.name),
        );
    }
    if a.publisher.len() == 32 && is_slug(&a.name) {
        let want = adoption_name(&a.publisher, &a.name);
        if b.name != want {
            e.push(
                "name",
                format!("an adoption of this service is named {want:?}"),
            );
        }
    }
    text(e, "note", &a.note, false, 1000);
    super::catalogue::check_answers(e, &a.answers);
}

pub(super) fn check_need(e: &mut Errors, n: &v1::Need) {
    text(e, "title", &n.title, true, limits::TITLE);
    text_lines(
        e,
        "description",
        &n.description,
        false,
        limits::DESCRIPTION,
        true,
    );
    check_local(
        e,
        Some(&v1::LocalGov {
            lgsl: n.lgsl.clone(),
            coverage: n.coverage.clone(),
            ..Default::default()
        }),
    );
    if n.lgsl.is_empty() {
        e.push("lgsl", "required, at least one LGSL code");
    }
    if n.contact.is_some() {
        check_contact(e, "contact", n.contact.as_ref(), false);
    }
}
