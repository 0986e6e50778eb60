//! Services and datasets, the catalogue's entries: the fields of the UK metadata model
//! that both share (`check_common`), the local-government extensions (`check_local`),
//! contact points, a service's endpoint and a dataset's distributions.

use lgmesh_proto::v1;

use super::text::{
    enum_set, is_email, is_licence, is_media_type, is_uri_or_token, list, opt_date, opt_url, text,
    text_lines,
};
use super::{Errors, limits};
use crate::identity::is_gss_code;

/// Checks a contact point.
pub(crate) fn check_contact(
    e: &mut Errors,
    field: &str,
    c: Option<&v1::ContactPoint>,
    required: bool,
) {
    let Some(c) = c else {
        if required {
            e.push(field, "required");
        }
        return;
    };
    text(
        e,
        &format!("{field}.contactName"),
        &c.contact_name,
        true,
        limits::SHORT,
    );
    if c.email.is_empty() {
        e.push(format!("{field}.email"), "required");
    } else if !is_email(&c.email) {
        e.push(
            format!("{field}.email"),
            format!("{:?} is not an email address", c.email),
        );
    }
    text(e, &format!("{field}.telephone"), &c.telephone, false, 100);
    text(
        e,
        &format!("{field}.address"),
        &c.address,
        false,
        limits::SHORT,
    );
}

fn check_common(e: &mut Errors, c: Option<&v1::Catalogued>) {
    let Some(c) = c else {
        e.push("title", "required (the catalogued fields are missing)");
        return;
    };
    text(e, "identifier", &c.identifier, true, limits::URL);
    if !c.identifier.is_empty() && !is_uri_or_token(&c.identifier) {
        e.push("identifier", "must not contain spaces");
    }
    text(e, "title", &c.title, true, limits::TITLE);
    list(
        e,
        "alternativeTitle",
        &c.alternative_title,
        limits::TITLE,
        |_| true,
        "a title",
    );
    text(e, "summary", &c.summary, false, limits::SUMMARY);
    text_lines(
        e,
        "description",
        &c.description,
        true,
        limits::DESCRIPTION,
        true,
    );
    list(
        e,
        "keyword",
        &c.keyword,
        limits::KEYWORD,
        |_| true,
        "a keyword",
    );
    list(e, "theme", &c.theme, limits::URL, is_uri_or_token, "a URI");
    if c.licence.is_empty() {
        e.push("licence", "required");
    } else if !is_licence(&c.licence) {
        e.push(
            "licence",
            format!("{:?} is not a URI or DATA_SHARE_AGREEMENT", c.licence),
        );
    }
    enum_set(
        e,
        "accessRights",
        c.access_rights,
        v1::AccessRights::try_from(c.access_rights).is_ok(),
    );
    enum_set(
        e,
        "securityClassification",
        c.security_classification,
        v1::SecurityClassification::try_from(c.security_classification).is_ok(),
    );
    text(e, "version", &c.version, true, limits::SHORT);
    opt_date(e, "issued", &c.issued, false);
    opt_date(e, "modified", &c.modified, true);
    opt_date(e, "created", &c.created, false);
    if c.creator.is_empty() {
        e.push("creator", "required, at least one");
    }
    list(
        e,
        "creator",
        &c.creator,
        limits::SHORT,
        is_uri_or_token,
        "an organisation slug or id",
    );
    text(e, "publisher", &c.publisher, true, limits::SHORT);
    if !c.publisher.is_empty() && !is_uri_or_token(&c.publisher) {
        e.push(
            "publisher",
            "must be an organisation slug or id without spaces",
        );
    }
    check_contact(e, "contactPoint", c.contact_point.as_ref(), true);
    list(
        e,
        "relatedResource",
        &c.related_resource,
        limits::URL,
        is_uri_or_token,
        "a URI",
    );
}

pub(super) fn check_local(e: &mut Errors, l: Option<&v1::LocalGov>) {
    let Some(l) = l else { return };
    if l.lgsl.len() > limits::LIST {
        e.push("lgsl", format!("at most {} codes", limits::LIST));
    }
    for (i, code) in l.lgsl.iter().enumerate() {
        if !(1..=9999).contains(code) {
            e.push(
                format!("lgsl[{i}]"),
                format!("{code} is not an LGSL code (1-9999)"),
            );
        }
    }
    list(
        e,
        "coverage",
        &l.coverage,
        9,
        is_gss_code,
        "a GSS code (a capital letter and 8 digits, e.g. E07000209)",
    );
    list(
        e,
        "standards",
        &l.standards,
        limits::URL,
        |_| true,
        "a standard",
    );
    opt_url(e, "sourceRepository", &l.source_repository);
    if v1::CostModel::try_from(l.cost_model).is_err() {
        e.push("costModel", format!("unknown value {}", l.cost_model));
    }
}

fn check_sha256(e: &mut Errors, field: &str, v: &[u8]) {
    if !v.is_empty() && v.len() != 32 {
        e.push(field, format!("a SHA-256 is 32 bytes, got {}", v.len()));
    }
}

/// Checks a service body.
pub(crate) fn check_service(e: &mut Errors, s: &v1::Service) {
    check_common(e, s.common.as_ref());
    check_local(e, s.local.as_ref());
    enum_set(
        e,
        "serviceType",
        s.service_type,
        v1::ServiceType::try_from(s.service_type).is_ok(),
    );
    enum_set(
        e,
        "serviceStatus",
        s.service_status,
        v1::ServiceStatus::try_from(s.service_status).is_ok(),
    );
    opt_url(e, "endpointURL", &s.endpoint_url);
    if s.endpoint_description.is_empty() {
        e.push("endpointDescription", "required");
    } else if !is_uri_or_token(&s.endpoint_description) || !s.endpoint_description.contains(':') {
        e.push(
            "endpointDescription",
            format!("{:?} is not a URI", s.endpoint_description),
        );
    }
    check_sha256(
        e,
        "endpointDescriptionSha256",
        &s.endpoint_description_sha256,
    );
    list(
        e,
        "servesData",
        &s.serves_data,
        limits::URL,
        is_uri_or_token,
        "a URI",
    );
    check_answers(e, &s.answers);
}

/// Checks the needs a service or adoption says it answers: at most
/// [`limits::ANSWERS`], each a 32-byte key and a name, none twice.
pub(crate) fn check_answers(e: &mut Errors, answers: &[v1::NeedRef]) {
    if answers.len() > limits::ANSWERS {
        e.push("answers", format!("at most {} needs", limits::ANSWERS));
        return;
    }
    for (i, a) in answers.iter().enumerate() {
        if a.publisher.len() != 32 {
            e.push(
                format!("answers[{i}].publisher"),
                format!(
                    "an ed25519 public key is 32 bytes, got {}",
                    a.publisher.len()
                ),
            );
        }
        if !crate::identity::is_slug(&a.name) {
            e.push(
                format!("answers[{i}].name"),
                format!("{:?} is not a manifest name", a.name),
            );
        }
        if answers[..i].contains(a) {
            e.push(format!("answers[{i}]"), "names a need twice");
        }
    }
}

/// Checks one distribution, nested under `field`.
pub(crate) fn check_distribution(e: &mut Errors, field: &str, d: &v1::Distribution) {
    let f = |n: &str| format!("{field}.{n}");
    text(e, &f("identifier"), &d.identifier, true, limits::URL);
    text(e, &f("title"), &d.title, true, limits::TITLE);
    text_lines(
        e,
        &f("description"),
        &d.description,
        false,
        limits::DESCRIPTION,
        true,
    );
    opt_url(e, &f("downloadURL"), &d.download_url);
    if d.media_type.is_empty() {
        e.push(f("mediaType"), "required");
    } else if !is_media_type(&d.media_type) {
        e.push(
            f("mediaType"),
            format!(
                "{:?} is not an IANA media type such as text/csv",
                d.media_type
            ),
        );
    }
    check_sha256(e, &f("sha256"), &d.sha256);
    if d.licence.is_empty() {
        e.push(f("licence"), "required");
    } else if !is_licence(&d.licence) {
        e.push(
            f("licence"),
            format!("{:?} is not a URI or DATA_SHARE_AGREEMENT", d.licence),
        );
    }
    if d.access_rights != 0 && v1::AccessRights::try_from(d.access_rights).is_err() {
        e.push(
            f("accessRights"),
            format!("unknown value {}", d.access_rights),
        );
    }
    opt_date(e, &f("issued"), &d.issued, false);
    opt_date(e, &f("modified"), &d.modified, false);
    list(
        e,
        &f("accessService"),
        &d.access_service,
        limits::URL,
        is_uri_or_token,
        "a URI",
    );
}

/// Checks a dataset body.
pub(crate) fn check_dataset(e: &mut Errors, d: &v1::Dataset) {
    check_common(e, d.common.as_ref());
    check_local(e, d.local.as_ref());
    enum_set(
        e,
        "updateFrequency",
        d.update_frequency,
        v1::UpdateFrequency::try_from(d.update_frequency).is_ok(),
    );
    if d.distribution.len() > limits::DISTRIBUTIONS {
        e.push(
            "distribution",
            format!("at most {} distributions", limits::DISTRIBUTIONS),
        );
    }
    for (i, dist) in d.distribution.iter().enumerate() {
        check_distribution(e, &format!("distribution[{i}]"), dist);
    }
    list(
        e,
        "conformsTo",
        &d.conforms_to,
        limits::URL,
        is_uri_or_token,
        "a URI",
    );
    opt_date(e, "temporalStart", &d.temporal_start, false);
    opt_date(e, "temporalEnd", &d.temporal_end, false);
}
