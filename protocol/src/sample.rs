//! Sample manifests for tests, benchmarks and simulations: valid service and dataset
//! bodies with the fields a council would fill in.

use crate::v1::{self, ManifestBody, manifest_body::Kind};

/// The Open Government Licence v3.0.
pub const OGL: &str = "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/";

/// A valid service body (publisher left empty: signing fills it in).
pub fn service(
    name: &str,
    version: u64,
    title: &str,
    description: &str,
    lgsl: &[u32],
    coverage: &[&str],
    now_ms: u64,
) -> ManifestBody {
    ManifestBody {
        publisher: vec![],
        name: name.into(),
        version,
        issued_at_ms: now_ms,
        expires_at_ms: now_ms + crate::YEAR_MS,
        kind: Some(Kind::Service(v1::Service {
            common: Some(common(name, title, description)),
            local: Some(v1::LocalGov {
                lgsl: lgsl.to_vec(),
                coverage: coverage.iter().map(|s| (*s).to_owned()).collect(),
                ..Default::default()
            }),
            service_type: v1::ServiceType::Rest as i32,
            service_status: v1::ServiceStatus::Live as i32,
            endpoint_url: format!("https://api.example.gov.uk/{name}/"),
            endpoint_description: format!("https://api.example.gov.uk/{name}/openapi.json"),
            ..Default::default()
        })),
    }
}

/// A retraction body.
pub fn retraction(name: &str, version: u64, now_ms: u64) -> ManifestBody {
    ManifestBody {
        publisher: vec![],
        name: name.into(),
        version,
        issued_at_ms: now_ms,
        expires_at_ms: now_ms + crate::YEAR_MS,
        kind: Some(Kind::Retraction(v1::Retraction {
            reason: "withdrawn".into(),
        })),
    }
}

/// An org card body.
pub fn org(org_id: &str, org_name: &str, version: u64, now_ms: u64) -> ManifestBody {
    ManifestBody {
        publisher: vec![],
        name: crate::schema::ORG_CARD_NAME.into(),
        version,
        issued_at_ms: now_ms,
        expires_at_ms: now_ms + crate::YEAR_MS,
        kind: Some(Kind::Org(v1::OrgCard {
            org_id: org_id.into(),
            name: org_name.into(),
            ..Default::default()
        })),
    }
}

/// A dataset body: weekly, one CSV distribution, conforming to `conforms_to`, covering
/// Guildford (E07000209) and LGSL 524.
pub fn dataset(
    name: &str,
    version: u64,
    title: &str,
    description: &str,
    conforms_to: &[&str],
    now_ms: u64,
) -> ManifestBody {
    ManifestBody {
        publisher: vec![],
        name: name.into(),
        version,
        issued_at_ms: now_ms,
        expires_at_ms: now_ms + crate::YEAR_MS,
        kind: Some(Kind::Dataset(v1::Dataset {
            common: Some(common(name, title, description)),
            local: Some(v1::LocalGov {
                lgsl: vec![524],
                coverage: vec!["E07000209".into()],
                ..Default::default()
            }),
            update_frequency: v1::UpdateFrequency::Weekly as i32,
            distribution: vec![v1::Distribution {
                identifier: format!("https://data.example.gov.uk/{name}.csv"),
                licence: OGL.into(),
                title: format!("{title} (CSV)"),
                download_url: format!("https://data.example.gov.uk/{name}.csv"),
                media_type: "text/csv".into(),
                ..Default::default()
            }],
            conforms_to: conforms_to.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        })),
    }
}

fn common(name: &str, title: &str, description: &str) -> v1::Catalogued {
    v1::Catalogued {
        identifier: format!("https://api.example.gov.uk/{name}"),
        title: title.into(),
        description: description.into(),
        licence: OGL.into(),
        access_rights: v1::AccessRights::Open as i32,
        security_classification: v1::SecurityClassification::Official as i32,
        version: "1.0.0".into(),
        modified: "2026-11-01".into(),
        creator: vec!["gss:E07000209".into()],
        publisher: "gss:E07000209".into(),
        contact_point: Some(v1::ContactPoint {
            contact_name: "Digital Services".into(),
            email: "digital@example.gov.uk".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An endorsement body: `subject` belongs to `org_id`.
pub fn endorsement(
    subject: &crate::identity::PublisherKey,
    org_id: &str,
    version: u64,
    now_ms: u64,
) -> ManifestBody {
    ManifestBody {
        publisher: vec![],
        name: crate::schema::endorsement_name(subject.as_bytes()),
        version,
        issued_at_ms: now_ms,
        expires_at_ms: now_ms + crate::YEAR_MS,
        kind: Some(Kind::Endorsement(v1::Endorsement {
            subject: subject.as_bytes().to_vec(),
            org_id: org_id.into(),
            note: "checked by phone".into(),
        })),
    }
}

/// A revocation body: `subject` was revoked at `revoked_at_ms`, signed at `now_ms`.
pub fn revocation(
    subject: &crate::identity::PublisherKey,
    revoked_at_ms: u64,
    now_ms: u64,
) -> ManifestBody {
    ManifestBody {
        publisher: vec![],
        name: crate::schema::revocation_name(subject.as_bytes()),
        version: 1,
        issued_at_ms: now_ms,
        expires_at_ms: now_ms + crate::YEAR_MS,
        kind: Some(Kind::Revocation(v1::Revocation {
            subject: subject.as_bytes().to_vec(),
            revoked_at_ms,
            reason: "key leaked".into(),
            valid_ids: vec![],
        })),
    }
}

/// An adoption body: the publisher uses `(service_publisher, service_name)`.
pub fn adoption(
    service_publisher: &crate::identity::PublisherKey,
    service_name: &str,
    version: u64,
    now_ms: u64,
) -> ManifestBody {
    ManifestBody {
        publisher: vec![],
        name: crate::schema::adoption_name(service_publisher.as_bytes(), service_name),
        version,
        issued_at_ms: now_ms,
        expires_at_ms: now_ms + crate::YEAR_MS,
        kind: Some(Kind::Adoption(v1::Adoption {
            publisher: service_publisher.as_bytes().to_vec(),
            name: service_name.into(),
            version: 1,
            note: String::new(),
            answers: vec![],
        })),
    }
}

/// A need body.
pub fn need(name: &str, title: &str, lgsl: &[u32], now_ms: u64) -> ManifestBody {
    ManifestBody {
        publisher: vec![],
        name: name.into(),
        version: 1,
        issued_at_ms: now_ms,
        expires_at_ms: now_ms + crate::YEAR_MS,
        kind: Some(Kind::Need(v1::Need {
            title: title.into(),
            description: String::new(),
            lgsl: lgsl.to_vec(),
            ..Default::default()
        })),
    }
}
