//! Rendering manifests for people (text) and scripts (JSON). The JSON `record` uses the
//! UK metadata model's field names, so it can be published again as it is.

use lgmesh_protocol::document::{EnumTable, enum_label};
use lgmesh_protocol::v1::{self, manifest_body::Kind};
use serde_json::{Map, Value, json};

/// Unix milliseconds as RFC 3339 UTC (`2026-11-22T13:40:00Z`).
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn put(m: &mut Map<String, Value>, k: &str, v: Value) {
    let empty = match &v {
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Null => true,
        Value::Number(n) => n.as_u64() == Some(0),
        _ => false,
    };
    if !empty {
        m.insert(k.to_owned(), v);
    }
}

fn contact(c: &v1::ContactPoint) -> Value {
    let mut m = Map::new();
    put(&mut m, "contactName", json!(c.contact_name));
    put(&mut m, "email", json!(c.email));
    put(&mut m, "telephone", json!(c.telephone));
    put(&mut m, "address", json!(c.address));
    Value::Object(m)
}

fn common(m: &mut Map<String, Value>, c: &v1::Catalogued) {
    put(m, "identifier", json!(c.identifier));
    put(m, "title", json!(c.title));
    put(m, "alternativeTitle", json!(c.alternative_title));
    put(m, "summary", json!(c.summary));
    put(m, "description", json!(c.description));
    put(m, "keyword", json!(c.keyword));
    put(m, "theme", json!(c.theme));
    put(m, "licence", json!(c.licence));
    put(
        m,
        "accessRights",
        json!(enum_label(EnumTable::AccessRights, c.access_rights)),
    );
    put(
        m,
        "securityClassification",
        json!(enum_label(EnumTable::Security, c.security_classification)),
    );
    put(m, "version", json!(c.version));
    put(m, "issued", json!(c.issued));
    put(m, "modified", json!(c.modified));
    put(m, "created", json!(c.created));
    put(m, "creator", json!(c.creator));
    put(m, "publisher", json!(c.publisher));
    if let Some(cp) = &c.contact_point {
        m.insert("contactPoint".into(), contact(cp));
    }
    put(m, "relatedResource", json!(c.related_resource));
}

fn local(m: &mut Map<String, Value>, l: &v1::LocalGov) {
    put(m, "lgsl", json!(l.lgsl));
    put(m, "coverage", json!(l.coverage));
    put(m, "standards", json!(l.standards));
    put(m, "sourceRepository", json!(l.source_repository));
    put(
        m,
        "costModel",
        json!(enum_label(EnumTable::CostModel, l.cost_model)),
    );
}

/// The body's content as a UK metadata model record (services and datasets), or lgmesh's
/// own fields (org cards, retractions).
pub fn record(body: &v1::ManifestBody) -> Value {
    let mut m = Map::new();
    match &body.kind {
        Some(Kind::Service(s)) => {
            m.insert("type".into(), json!("dcat:DataService"));
            if let Some(c) = &s.common {
                common(&mut m, c);
            }
            put(
                &mut m,
                "serviceType",
                json!(enum_label(EnumTable::ServiceType, s.service_type)),
            );
            put(
                &mut m,
                "serviceStatus",
                json!(enum_label(EnumTable::ServiceStatus, s.service_status)),
            );
            put(&mut m, "endpointURL", json!(s.endpoint_url));
            put(&mut m, "endpointDescription", json!(s.endpoint_description));
            put(
                &mut m,
                "endpointDescriptionSha256",
                json!(hex::encode(&s.endpoint_description_sha256)),
            );
            put(&mut m, "servesData", json!(s.serves_data));
            put(&mut m, "answers", json!(need_refs(&s.answers)));
            if let Some(l) = &s.local {
                local(&mut m, l);
            }
        }
        Some(Kind::Dataset(d)) => {
            m.insert("type".into(), json!("dcat:Dataset"));
            if let Some(c) = &d.common {
                common(&mut m, c);
            }
            put(
                &mut m,
                "updateFrequency",
                json!(format!(
                    "freq:{}",
                    enum_label(EnumTable::Frequency, d.update_frequency)
                )),
            );
            let dists: Vec<Value> = d
                .distribution
                .iter()
                .map(|x| {
                    let mut dm = Map::new();
                    dm.insert("type".into(), json!("dcat:Distribution"));
                    put(&mut dm, "identifier", json!(x.identifier));
                    put(&mut dm, "title", json!(x.title));
                    put(&mut dm, "description", json!(x.description));
                    put(&mut dm, "downloadURL", json!(x.download_url));
                    put(&mut dm, "mediaType", json!(x.media_type));
                    put(&mut dm, "byteSize", json!(x.byte_size));
                    put(&mut dm, "sha256", json!(hex::encode(&x.sha256)));
                    put(&mut dm, "licence", json!(x.licence));
                    put(
                        &mut dm,
                        "accessRights",
                        json!(enum_label(EnumTable::AccessRights, x.access_rights)),
                    );
                    put(&mut dm, "issued", json!(x.issued));
                    put(&mut dm, "modified", json!(x.modified));
                    put(&mut dm, "accessService", json!(x.access_service));
                    Value::Object(dm)
                })
                .collect();
            put(&mut m, "distribution", Value::Array(dists));
            put(&mut m, "conformsTo", json!(d.conforms_to));
            put(&mut m, "temporalStart", json!(d.temporal_start));
            put(&mut m, "temporalEnd", json!(d.temporal_end));
            if let Some(l) = &d.local {
                local(&mut m, l);
            }
        }
        Some(Kind::Org(o)) => {
            put(&mut m, "orgId", json!(o.org_id));
            put(&mut m, "name", json!(o.name));
            put(
                &mut m,
                "orgType",
                json!(
                    v1::OrgType::try_from(o.org_type)
                        .map(|t| t.as_str_name())
                        .unwrap_or("")
                ),
            );
            put(&mut m, "website", json!(o.website));
            if let Some(c) = &o.contact {
                m.insert("contact".into(), contact(c));
            }
            put(&mut m, "nodeIds", json!(o.node_ids));
        }
        Some(Kind::Retraction(r)) => put(&mut m, "reason", json!(r.reason)),
        Some(Kind::Endorsement(e)) => {
            put(&mut m, "subject", json!(did(&e.subject)));
            put(&mut m, "orgId", json!(e.org_id));
            put(&mut m, "note", json!(e.note));
        }
        Some(Kind::Adoption(a)) => {
            put(
                &mut m,
                "service",
                json!(format!("{}/{}", did(&a.publisher), a.name)),
            );
            put(&mut m, "serviceVersion", json!(a.version));
            put(&mut m, "note", json!(a.note));
            put(&mut m, "answers", json!(need_refs(&a.answers)));
        }
        Some(Kind::KeyRotation(r)) => put(&mut m, "newKey", json!(did(&r.new_key))),
        Some(Kind::Revocation(r)) => {
            put(&mut m, "subject", json!(did(&r.subject)));
            put(&mut m, "revokedAt", json!(rfc3339(r.revoked_at_ms)));
            put(&mut m, "reason", json!(r.reason));
        }
        Some(Kind::Need(n)) => {
            put(&mut m, "title", json!(n.title));
            put(&mut m, "description", json!(n.description));
            put(&mut m, "lgsl", json!(n.lgsl));
            put(&mut m, "coverage", json!(n.coverage));
            if let Some(c) = &n.contact {
                m.insert("contact".into(), contact(c));
            }
        }
        None => {}
    }
    Value::Object(m)
}

/// Percent-encodes `s` for a URL's path segment or query value: everything but
/// RFC 3986's unreserved characters and the bytes in `keep` (e.g. `b":"`).
pub fn percent_encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Needs as `did:key:…/name`, as documents name them.
pub fn need_refs(refs: &[v1::NeedRef]) -> Vec<String> {
    refs.iter()
        .map(|r| format!("{}/{}", did(&r.publisher), r.name))
        .collect()
}

/// A key's `did:key` form (hex when the bytes are not a key).
fn did(bytes: &[u8]) -> String {
    lgmesh_protocol::identity::PublisherKey::from_bytes(bytes)
        .map(|k| k.to_string())
        .unwrap_or_else(|_| hex::encode(bytes))
}

/// The API's verification state as a word: `verified`, `unverified`, `conflicting`.
pub fn verification_word(v: i32) -> &'static str {
    match v1::Verification::try_from(v) {
        Ok(v1::Verification::Verified) => "verified",
        Ok(v1::Verification::Conflicting) => "conflicting",
        Ok(v1::Verification::Revoked) => "revoked",
        Ok(v1::Verification::Rotated) => "rotated",
        _ => "unverified",
    }
}

/// A manifest as JSON: lgmesh's envelope facts plus the record.
pub fn manifest_json(m: &v1::Manifest) -> Value {
    let empty = v1::ManifestBody::default();
    let b = m.body.as_ref().unwrap_or(&empty);
    json!({
        "id": m.id,
        "publisher": m.publisher,
        "name": b.name,
        "version": b.version,
        "kind": m.kind,
        "orgId": m.org_id,
        "orgName": m.org_name,
        "issuedAt": rfc3339(b.issued_at_ms),
        "expiresAt": rfc3339(b.expires_at_ms),
        "isHead": m.is_head,
        "retracted": m.retracted,
        "expired": m.expired,
        "equivocation": m.equivocation,
        "verification": verification_word(m.verification),
        "verificationReason": m.verification_reason,
        "verifiedAdopters": m.verified_adopters,
        "adopters": m.adopters.iter().map(|a| json!({
            "publisher": a.publisher, "orgId": a.org_id, "orgName": a.org_name,
            "verification": verification_word(a.verification), "version": a.version,
        })).collect::<Vec<_>>(),
        "answers": m.answers.iter().map(|a| json!({
            "id": a.id, "publisher": a.publisher, "name": a.name, "kind": a.kind,
            "title": a.title, "orgName": a.org_name,
            "verification": verification_word(a.verification),
        })).collect::<Vec<_>>(),
        "record": record(b),
    })
}

/// The title of what a manifest describes.
pub fn title(b: &v1::ManifestBody) -> String {
    match &b.kind {
        Some(Kind::Service(s)) => s
            .common
            .as_ref()
            .map(|c| c.title.clone())
            .unwrap_or_default(),
        Some(Kind::Dataset(d)) => d
            .common
            .as_ref()
            .map(|c| c.title.clone())
            .unwrap_or_default(),
        Some(Kind::Org(o)) => o.name.clone(),
        Some(Kind::Retraction(r)) => format!("(retracted) {}", r.reason),
        Some(Kind::Endorsement(e)) => format!("Endorses {} as {}", did(&e.subject), e.org_id),
        Some(Kind::Adoption(a)) => format!("Uses {}/{}", did(&a.publisher), a.name),
        Some(Kind::Need(n)) => format!("Needed: {}", n.title),
        Some(Kind::KeyRotation(r)) => format!("Key rotated to {}", did(&r.new_key)),
        Some(Kind::Revocation(r)) => format!("Revokes {}: {}", did(&r.subject), r.reason),
        None => String::new(),
    }
}

/// Flags worth a person's attention, e.g. `[retracted, expired]`.
pub fn flags(m: &v1::Manifest) -> String {
    let mut f = vec![];
    if m.retracted {
        f.push("retracted");
    }
    if m.expired {
        f.push("expired");
    }
    if m.equivocation {
        f.push("EQUIVOCATION");
    }
    match v1::Verification::try_from(m.verification) {
        Ok(v1::Verification::Verified) => f.push("verified"),
        Ok(v1::Verification::Conflicting) => f.push("CONFLICTING ORG CLAIM"),
        Ok(v1::Verification::Revoked) => f.push("REVOKED KEY"),
        Ok(v1::Verification::Rotated) => f.push("ROTATED-AWAY KEY"),
        _ => f.push("unverified"),
    }
    if !m.is_head && !m.retracted {
        f.push("superseded");
    }
    if f.is_empty() {
        String::new()
    } else {
        format!(" [{}]", f.join(", "))
    }
}

/// Width of the label column in `show`: the longest UK model field name.
const W: usize = 22;

/// A multi-line description for `show`.
pub fn manifest_text(m: &v1::Manifest) -> String {
    let empty = v1::ManifestBody::default();
    let b = m.body.as_ref().unwrap_or(&empty);
    let mut s = String::new();
    let org = if m.org_name.is_empty() {
        "(no org card seen)".to_owned()
    } else {
        format!("{} ({})", m.org_name, m.org_id)
    };
    s += &format!("{}{}\n", title(b), flags(m));
    // lgmesh's own facts first, then the record's fields (UK metadata model names).
    s += &format!("  {:<W$} {}\n", "kind", m.kind);
    s += &format!("  {:<W$} {} v{}\n", "name", b.name, b.version);
    s += &format!("  {:<W$} {}\n", "organisation", org);
    s += &format!("  {:<W$} {}\n", "signed by", m.publisher);
    s += &format!(
        "  {:<W$} {} ({})\n",
        "publisher is",
        verification_word(m.verification),
        m.verification_reason
    );
    if !m.adopters.is_empty() {
        let names: Vec<String> = m
            .adopters
            .iter()
            .map(|a| {
                let who = if a.org_name.is_empty() {
                    &a.publisher
                } else {
                    &a.org_name
                };
                format!("{who} ({})", verification_word(a.verification))
            })
            .collect();
        s += &format!(
            "  {:<W$} {} verified of {}: {}\n",
            "used by",
            m.verified_adopters,
            m.adopters.len(),
            names.join("; ")
        );
    }
    for a in &m.answers {
        let who = if a.org_name.is_empty() {
            &a.publisher
        } else {
            &a.org_name
        };
        s += &format!(
            "  {:<W$} {} ({}, {}): {}\n",
            "answered by",
            who,
            a.kind,
            verification_word(a.verification),
            a.title
        );
    }
    s += &format!("  {:<W$} {}\n", "manifest id", m.id);
    s += &format!(
        "  {:<W$} {}   expires {}\n",
        "signed at",
        rfc3339(b.issued_at_ms),
        rfc3339(b.expires_at_ms)
    );
    if let Value::Object(rec) = record(b) {
        for (k, v) in rec {
            if matches!(k.as_str(), "type" | "title" | "description") {
                continue;
            }
            let text = match v {
                Value::String(x) => x,
                Value::Array(a) => a
                    .iter()
                    .map(|x| match x {
                        Value::String(s) => s.clone(),
                        Value::Object(o) => o
                            .get("downloadURL")
                            .or_else(|| o.get("identifier"))
                            .map(|v| v.as_str().unwrap_or("").to_owned())
                            .unwrap_or_default(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                Value::Object(o) => o
                    .values()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            s += &format!("  {k:<W$} {text}\n");
        }
        let common = match &b.kind {
            Some(Kind::Service(sv)) => sv.common.as_ref(),
            Some(Kind::Dataset(d)) => d.common.as_ref(),
            _ => None,
        };
        if let Some(c) = common {
            s += &format!("\n{}\n", c.description);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_786_213_000), "2026-11-27T13:30:13Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
