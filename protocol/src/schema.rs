//! Schema checks on a decoded manifest body: required fields, lengths, URL syntax,
//! enumerations, LGSL and GSS syntax. The same rules apply to every ingress path,
//! so a manifest signed by a careless or hostile tool is refused like a bad file.

use lgmesh_proto::v1::{self, ManifestBody, manifest_body::Kind};

use crate::identity::{OrgId, is_gss_code, is_slug};

/// One problem with one field, e.g. `serviceStatus: "PRODUCTION" is not one of …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, in the UK metadata model's spelling, with a path for nested fields
    /// (`contactPoint.email`, `distribution[0].mediaType`).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Joins field errors into one line.
pub fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Field length limits (characters).
pub mod limits {
    /// Title.
    pub const TITLE: usize = 300;
    /// Summary (the model's pattern `^.{1,250}$`).
    pub const SUMMARY: usize = 250;
    /// Description.
    pub const DESCRIPTION: usize = 32 * 1024;
    /// A short free-text field (identifier, version, names).
    pub const SHORT: usize = 500;
    /// A URL.
    pub const URL: usize = 2048;
    /// Items in a list field.
    pub const LIST: usize = 50;
    /// Distributions of one dataset.
    pub const DISTRIBUTIONS: usize = 100;
    /// A keyword.
    pub const KEYWORD: usize = 100;
}

/// Collects field errors.
#[derive(Default)]
pub(crate) struct Errors(pub Vec<FieldError>);

impl Errors {
    pub fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            reason: reason.into(),
        });
    }
}

/// An http(s) URL with a host.
pub fn is_http_url(s: &str) -> bool {
    s.len() <= limits::URL
        && !s
            .chars()
            .any(|c| c.is_whitespace() || is_unsafe_char(c, false))
        && url::Url::parse(s)
            .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .unwrap_or(false)
}

/// A URI or CURIE (`scheme:rest`) or a bare identifier without spaces.
fn is_uri_or_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= limits::URL
        && !s
            .chars()
            .any(|c| c.is_whitespace() || is_unsafe_char(c, false))
}

/// An ISO 8601 calendar date as the model uses it: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
pub fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let num = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [y] => num(y, 4),
        [y, m] => num(y, 4) && num(m, 2) && (1..=12).contains(&m.parse::<u32>().unwrap_or(0)),
        [y, m, d] => {
            num(y, 4)
                && num(m, 2)
                && num(d, 2)
                && (1..=12).contains(&m.parse::<u32>().unwrap_or(0))
                && (1..=days_in_month(y.parse().unwrap_or(1), m.parse().unwrap_or(1)))
                    .contains(&d.parse::<u32>().unwrap_or(0))
        }
        _ => false,
    }
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The model's licence rule: a URI, or the literal `DATA_SHARE_AGREEMENT`.
pub fn is_licence(s: &str) -> bool {
    s == "DATA_SHARE_AGREEMENT" || (s.contains(':') && is_uri_or_token(s))
}

/// The model's mediaType pattern: an IANA top-level type, a slash, and a subtype.
pub fn is_media_type(s: &str) -> bool {
    const TOP: &[&str] = &[
        "application",
        "audio",
        "font",
        "image",
        "message",
        "model",
        "multipart",
        "text",
        "video",
    ];
    match s.split_once('/') {
        Some((top, sub)) => {
            TOP.contains(&top)
                && !sub.is_empty()
                && !sub
                    .chars()
                    .any(|c| c.is_whitespace() || is_unsafe_char(c, false))
                && s.len() <= 255
        }
        None => false,
    }
}

/// The model's email pattern `^\S+@[\S+\.]+\S+`.
pub fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((l, d)) => {
            !l.is_empty()
                && d.len() >= 2
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || is_unsafe_char(c, false))
                && s.len() <= 320
        }
        None => false,
    }
}

/// Characters no text field may hold: control characters (C0, DEL and C1), which a
/// terminal acts on (ESC starts a colour or cursor sequence, BEL rings, CR overwrites
/// the line), and the invisible formatting characters that reorder or hide text (bidi
/// overrides and isolates, zero-width marks), with which a title could be made to read
/// `[verified]` or to hide what follows it. A `multiline` field (a description) may
/// hold line breaks and tabs.
pub fn is_unsafe_char(c: char, multiline: bool) -> bool {
    if multiline && matches!(c, '\n' | '\r' | '\t') {
        return false;
    }
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// `s` with every character [`is_unsafe_char`] refuses (line breaks and tabs too,
/// unless `multiline`) written as a JSON-style escape (`\u001b`), for output to a
/// terminal: what a peer or an old store holds can then never act on the terminal.
pub fn escape_unsafe(s: &str, multiline: bool) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe_char(c, multiline)) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe_char(c, multiline) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The first unsafe character of `v`, as the reason a field is refused.
fn unsafe_reason(v: &str, multiline: bool) -> Option<String> {
    v.chars().find(|c| is_unsafe_char(*c, multiline)).map(|c| {
        format!(
            "must not contain control or invisible formatting characters (found U+{:04X})",
            u32::from(c)
        )
    })
}

fn text(e: &mut Errors, field: &str, v: &str, required: bool, max: usize) {
    text_lines(e, field, v, required, max, false)
}

/// As [`text`], for a field that may run over several lines (a description).
fn text_lines(e: &mut Errors, field: &str, v: &str, required: bool, max: usize, multiline: bool) {
    if v.trim().is_empty() {
        if required {
            e.push(field, "required");
        }
    } else if v.chars().count() > max {
        e.push(
            field,
            format!("at most {max} characters, got {}", v.chars().count()),
        );
    } else if let Some(why) = unsafe_reason(v, multiline) {
        e.push(field, why);
    }
}

fn list(
    e: &mut Errors,
    field: &str,
    items: &[String],
    max_len: usize,
    check: fn(&str) -> bool,
    what: &str,
) {
    if items.len() > limits::LIST {
        e.push(
            field,
            format!("at most {} items, got {}", limits::LIST, items.len()),
        );
    }
    for (i, it) in items.iter().enumerate() {
        if let Some(why) = unsafe_reason(it, false) {
            e.push(format!("{field}[{i}]"), why);
        } else if it.trim().is_empty() || it.chars().count() > max_len || !check(it) {
            e.push(format!("{field}[{i}]"), format!("{it:?} is not {what}"));
        }
    }
}

fn opt_url(e: &mut Errors, field: &str, v: &str) {
    if !v.is_empty() && !is_http_url(v) {
        e.push(field, format!("{v:?} is not an http(s) URL"));
    }
}

fn opt_date(e: &mut Errors, field: &str, v: &str, required: bool) {
    if v.is_empty() {
        if required {
            e.push(field, "required");
        }
    } else if !is_date(v) {
        e.push(
            field,
            format!("{v:?} is not a date (YYYY-MM-DD, YYYY-MM or YYYY)"),
        );
    }
}

fn enum_set(e: &mut Errors, field: &str, v: i32, valid: bool) {
    if v == 0 {
        e.push(field, "required");
    } else if !valid {
        e.push(field, format!("unknown value {v}"));
    }
}

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

fn check_local(e: &mut Errors, l: Option<&v1::LocalGov>) {
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

fn check_org(e: &mut Errors, o: &v1::OrgCard) {
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

/// The most manifest ids a rotation or revocation may name as staying valid.
pub const MAX_VALID_IDS: usize = 1024;

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

/// Every kind's name, as [`kind_name`] gives them.
pub const KINDS: [&str; 9] = [
    "org",
    "service",
    "dataset",
    "retraction",
    "endorsement",
    "adoption",
    "need",
    "key-rotation",
    "revocation",
];

/// The name every key rotation is published under.
pub const ROTATION_NAME: &str = "key-rotation";

/// The name every org card is published under.
pub const ORG_CARD_NAME: &str = "org";

/// Whether `(publisher, name)` holds a statement a key makes once and for good: its key
/// rotation, or its revocation of itself. Such a name has no versions: any second body
/// under it, whatever its version, contradicts the first (equivocation), and both are
/// kept and flagged; a later one never silently replaces the first.
pub fn is_terminal(publisher: &[u8], name: &str) -> bool {
    name == ROTATION_NAME || (publisher.len() == 32 && name == revocation_name(publisher))
}

/// Checks a whole body: the envelope fields and its kind. Every problem is listed.
pub fn check_body(b: &ManifestBody) -> Result<(), Vec<FieldError>> {
    let mut e = Errors::default();
    // Only the length here: whether the bytes are a valid key is decided once, when
    // the signature is checked (decompressing a point is a third of a verification).
    if b.publisher.len() != 32 {
        e.push(
            "publisher",
            format!(
                "an ed25519 public key is 32 bytes, got {}",
                b.publisher.len()
            ),
        );
    }
    if !is_slug(&b.name) {
        e.push(
            "name",
            format!(
                "{:?} must be 1-64 of a-z, 0-9 and '-', not starting with '-'",
                b.name
            ),
        );
    }
    let reserved = [
        ("endorse-", "endorsement"),
        ("adopt-", "adoption"),
        ("revoke-", "revocation"),
        (ROTATION_NAME, "key-rotation"),
    ];
    for (prefix, kind) in reserved {
        let taken = if prefix == ROTATION_NAME {
            b.name == prefix
        } else {
            b.name.starts_with(prefix)
        };
        if taken && !matches!(kind_name(b.kind.as_ref()), k if k == kind || k == "retraction") {
            e.push(
                "name",
                format!("names starting {prefix:?} are kept for the {kind} kind"),
            );
        }
    }
    if b.version == 0 {
        e.push("version", "must be at least 1");
    }
    if b.issued_at_ms == 0 {
        e.push("issuedAt", "required");
    }
    if b.expires_at_ms <= b.issued_at_ms {
        e.push("expiresAt", "must be after issuedAt");
    } else if b.expires_at_ms - b.issued_at_ms > crate::MAX_LIFETIME_MS {
        e.push(
            "expiresAt",
            format!("at most {} days after issuedAt", crate::MAX_LIFETIME_DAYS),
        );
    }
    match &b.kind {
        None => e.push(
            "kind",
            "required: org, service, dataset, retraction, endorsement, adoption or need",
        ),
        Some(Kind::Org(o)) => {
            if b.name != ORG_CARD_NAME {
                e.push(
                    "name",
                    format!("an org card is always named {ORG_CARD_NAME:?}"),
                );
            }
            check_org(&mut e, o)
        }
        Some(Kind::Service(s)) => check_service(&mut e, s),
        Some(Kind::Dataset(d)) => check_dataset(&mut e, d),
        Some(Kind::Retraction(r)) => text(&mut e, "reason", &r.reason, false, 1000),
        Some(Kind::Endorsement(x)) => check_endorsement(&mut e, b, x),
        Some(Kind::Adoption(a)) => check_adoption(&mut e, b, a),
        Some(Kind::Need(n)) => check_need(&mut e, n),
        Some(Kind::KeyRotation(r)) => check_rotation(&mut e, b, r),
        Some(Kind::Revocation(r)) => check_revocation(&mut e, b, r),
    }
    if e.0.is_empty() { Ok(()) } else { Err(e.0) }
}

/// The name an endorsement of `subject` is published under: `endorse-` and the first
/// 16 bytes of the key in hex. One per endorser and key.
pub fn endorsement_name(subject: &[u8]) -> String {
    format!("endorse-{}", hex16(subject))
}

/// The name an adoption of the service `(publisher, name)` is published under:
/// `adopt-` and the first 12 bytes of SHA-256(publisher || name) in hex. One per
/// adopter and service.
pub fn adoption_name(publisher: &[u8], name: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(publisher);
    h.update(name.as_bytes());
    format!("adopt-{}", hex16(&h.finalize()[..12]))
}

fn hex16(b: &[u8]) -> String {
    b.iter().take(16).map(|x| format!("{x:02x}")).collect()
}

/// The name a revocation of `subject` is published under.
pub fn revocation_name(subject: &[u8]) -> String {
    format!("revoke-{}", hex16(subject))
}

fn check_rotation(e: &mut Errors, b: &ManifestBody, r: &v1::KeyRotation) {
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

fn check_revocation(e: &mut Errors, b: &ManifestBody, r: &v1::Revocation) {
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

fn check_endorsement(e: &mut Errors, b: &ManifestBody, x: &v1::Endorsement) {
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

fn check_adoption(e: &mut Errors, b: &ManifestBody, a: &v1::Adoption) {
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
}

fn check_need(e: &mut Errors, n: &v1::Need) {
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

/// The kind's name: one of [`KINDS`].
pub fn kind_name(k: Option<&Kind>) -> &'static str {
    match k {
        Some(Kind::Org(_)) => "org",
        Some(Kind::Service(_)) => "service",
        Some(Kind::Dataset(_)) => "dataset",
        Some(Kind::Retraction(_)) => "retraction",
        Some(Kind::Endorsement(_)) => "endorsement",
        Some(Kind::Adoption(_)) => "adoption",
        Some(Kind::Need(_)) => "need",
        Some(Kind::KeyRotation(_)) => "key-rotation",
        Some(Kind::Revocation(_)) => "revocation",
        None => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        for ok in ["2023", "2023-02", "2023-02-28", "2024-02-29"] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in [
            "2023-01-30T12:12:12",
            "2023-13",
            "2023-02-30",
            "23-01-01",
            "",
            "2023-1-1",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }

    #[test]
    fn media_types() {
        assert!(is_media_type("text/csv"));
        assert!(is_media_type(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        ));
        assert!(!is_media_type("CSV"));
        assert!(!is_media_type("https://w3id.org/uri4uri/mime/text/csv"));
    }
}
