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
