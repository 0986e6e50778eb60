//! The catalogue: search with every filter the CLI has, and a page per manifest with its
//! fields, versions, trust explanation and adopters.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use lgmesh_proto::v1;
use lgmesh_protocol::envelope::ManifestId;
use lgmesh_registry::Query;
use serde_json::Value;

use super::csv::Csv;
use super::page::{self, num};
use super::pages::{lgsl_label, urlencode};
use super::{Web, error_page, html_page};
use crate::app::AppError;
use crate::view::{rfc3339, title};

/// Results to a page.
const PAGE_SIZE: usize = 20;
/// Results in one CSV download (the search API's largest page).
const CSV_SIZE: usize = 100;
/// The longest query string read; longer ones are refused.
const MAX_QUERY_STRING: usize = 4096;

/// The search form's fields, as the browser sent them.
#[derive(Default, Clone)]
struct Form {
    q: String,
    kind: String,
    lgsl: String,
    area: String,
    org: String,
    status: String,
    standard: String,
    verified: bool,
    cursor: String,
}

impl Form {
    /// Reads a query string; the first value of each field counts, unknown ones are
    /// ignored.
    fn parse(raw: Option<&str>) -> Result<Form, String> {
        let raw = raw.unwrap_or_default();
        if raw.len() > MAX_QUERY_STRING {
            return Err(format!(
                "the address is longer than {MAX_QUERY_STRING} characters"
            ));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(raw)?;
        let mut f = Form::default();
        let mut seen = std::collections::HashSet::new();
        for (k, v) in pairs {
            if !seen.insert(k.clone()) {
                continue;
            }
            let v = v.trim().to_owned();
            match k.as_str() {
                "q" => f.q = v,
                "kind" => f.kind = v,
                "lgsl" => f.lgsl = v,
                "area" => f.area = v.to_ascii_uppercase(),
                "org" => f.org = v,
                "status" => f.status = v.to_ascii_uppercase(),
                "standard" => f.standard = v,
                "verified" => f.verified = matches!(v.as_str(), "1" | "on" | "true" | "yes"),
                "cursor" => f.cursor = v,
                _ => {}
            }
        }
        Ok(f)
    }

    /// The registry query, or which field is wrong and why.
    fn query(&self, page_size: usize) -> Result<Query, String> {
        let nonempty = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
        let lgsl = match self.lgsl.as_str() {
            "" => None,
            s => Some(
                s.parse::<u32>()
                    .ok()
                    .filter(|n| (1..=9999).contains(n))
                    .ok_or_else(|| {
                        "LGSL code: enter a number from 1 to 9999, like 524".to_owned()
                    })?,
            ),
        };
        let q = Query {
            text: self.q.clone(),
            kind: nonempty(&self.kind),
            lgsl,
            area: nonempty(&self.area),
            org: nonempty(&self.org),
            status: nonempty(&self.status),
            standard: nonempty(&self.standard),
            verified_only: self.verified,
            page_size,
            cursor: nonempty(&self.cursor),
            ..Default::default()
        };
        q.check().map_err(|e| e.to_string())?;
        Ok(q)
    }

    /// This search as a query string, at `cursor`.
    fn href(&self, cursor: &str) -> String {
        let mut parts = vec![];
        for (k, v) in [
            ("q", &self.q),
            ("kind", &self.kind),
            ("lgsl", &self.lgsl),
            ("area", &self.area),
            ("org", &self.org),
            ("status", &self.status),
            ("standard", &self.standard),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", urlencode(v)));
            }
        }
        if self.verified {
            parts.push("verified=1".into());
        }
        if !cursor.is_empty() {
            parts.push(format!("cursor={}", urlencode(cursor)));
        }
        parts.join("&")
    }
}

/// `a=b&c=d` into pairs, percent- and plus-decoded; malformed encoding is refused.
fn serde_urlencoded_pairs(raw: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = vec![];
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((decode(k)?, decode(v)?));
    }
    Ok(out)
}

fn decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        "the search's address has a malformed %-escape; search again from the form"
                            .to_owned()
                    })?;
                out.push(hex);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "the address is not UTF-8".to_owned())
}

fn input(id: &str, label: &str, hint: &str, value: &str, width: &str) -> Markup {
    let hint_id = format!("{id}-hint");
    html! {
        div class="lg-form-group" {
            label class="lg-label" for=(id) { (label) }
            @if !hint.is_empty() { div class="lg-hint" id=(hint_id) { (hint) } }
            @if hint.is_empty() {
                input class={ "lg-input " (width) } id=(id) name=(id) type="text" value=(value);
            } @else {
                input class={ "lg-input " (width) } id=(id) name=(id) type="text" value=(value) aria-describedby=(hint_id);
            }
        }
    }
}

fn select(id: &str, label: &str, options: &[(&str, &str)], value: &str) -> Markup {
    html! {
        div class="lg-form-group" {
            label class="lg-label" for=(id) { (label) }
            select class="lg-select" id=(id) name=(id) {
                @for (v, text) in options {
                    @if *v == value { option value=(v) selected { (text) } } @else { option value=(v) { (text) } }
                }
            }
        }
    }
}

fn form(f: &Form, error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error {
            div class="lg-notification-banner" role="alert" aria-labelledby="search-error-title" {
                div class="lg-notification-banner__header" {
                    h2 class="lg-notification-banner__title" id="search-error-title" { "There is a problem" }
                }
                div class="lg-notification-banner__content" { p class="lg-body" { (e) } }
            }
        }
        form method="get" action="/catalogue" role="search" aria-label="Catalogue" {
            (input("q", "Search", "Words in the title, summary, description or keywords", &f.q, "lg-input--width-30"))
            div class="lg-grid-row" {
                div class="lg-grid-column-one-third" {
                    (select("kind", "Kind", &[("", "Any"), ("service", "Service"), ("dataset", "Dataset"), ("org", "Organisation"), ("need", "Need"), ("adoption", "Adoption"), ("endorsement", "Endorsement"), ("retraction", "Retraction")], &f.kind))
                    (input("lgsl", "LGSL code", "For example, 524", &f.lgsl, "lg-input--width-5"))
                }
                div class="lg-grid-column-one-third" {
                    (input("area", "Area (GSS code)", "For example, E07000209", &f.area, "lg-input--width-10"))
                    (input("org", "Organisation id", "For example, gss:E07000209", &f.org, "lg-input--width-20"))
                }
                div class="lg-grid-column-one-third" {
                    (select("status", "Service status", &[("", "Any"), ("DISCOVERY", "Discovery"), ("ALPHA", "Alpha"), ("BETA", "Beta"), ("PRIVATE_BETA", "Private beta"), ("PUBLIC_BETA", "Public beta"), ("LIVE", "Live"), ("DEPRECATED", "Deprecated"), ("WITHDRAWN", "Withdrawn")], &f.status))
                    (input("standard", "Standard", "A URI or name, for example https://www.openreferraluk.org/", &f.standard, "lg-input--width-20"))
                }
            }
            div class="lg-form-group" {
                div class="lg-checkboxes__item" {
                    @if f.verified {
                        input class="lg-checkboxes__input" id="verified" name="verified" type="checkbox" value="1" checked;
                    } @else {
                        input class="lg-checkboxes__input" id="verified" name="verified" type="checkbox" value="1";
                    }
                    label class="lg-label lg-checkboxes__label" for="verified" { "Only publishers this node verifies" }
                }
            }
            button class="lg-button" type="submit" { "Search" }
        }
    }
}

/// The search page: the form, then the results (or what is wrong with the form).
pub(super) async fn search(
    State(web): State<Arc<Web>>,
    RawQuery(raw): RawQuery,
    uri: Uri,
) -> Response {
    let t = page::Tables::new(&uri);
    let f = match Form::parse(raw.as_deref()) {
        Ok(f) => f,
        Err(e) => return render_search(&web, t, &Form::default(), Err(e)),
    };
    let r = match f.query(PAGE_SIZE) {
        Ok(q) => web.app.search(q).await.map_err(|e| match e {
            AppError::Invalid(m) => m,
            other => format!("the search failed: {other}"),
        }),
        Err(e) => Err(e),
    };
    render_search(&web, t, &f, r)
}

fn render_search(
    web: &Web,
    mut t: page::Tables,
    f: &Form,
    r: Result<v1::SearchResponse, String>,
) -> Response {
    let (status, results) = match &r {
        Ok(res) => {
            let rows: Vec<Vec<Markup>> = res
                .hits
                .iter()
                .filter_map(|h| h.manifest.as_ref())
                .map(row)
                .collect();
            let csv = format!("/catalogue.csv?{}", f.href(&f.cursor));
            (
                StatusCode::OK,
                html! {
                    p class="lg-body" id="result-count" data-live { (num(res.total)) " found" }
                    (t.table("results", "Results", &["Title", "Kind", "Publisher", "LGSL", "Status", "Trust", "Adopters"], &[6], &rows))
                    @if !res.next_cursor.is_empty() {
                        nav class="lg-pagination" aria-label="Pages" {
                            a class="lg-pagination__link" rel="next" href={ "/catalogue?" (f.href(&res.next_cursor)) } { "Next" span class="lg-visually-hidden" { " page of results" } }
                        }
                    }
                    (page::csv_link(&csv, "these results"))
                },
            )
        }
        Err(_) => (StatusCode::BAD_REQUEST, html! {}),
    };
    let content = html! {
        (form(f, r.as_ref().err().map(String::as_str)))
        (results)
    };
    let title = if r.is_err() {
        "Error: Catalogue"
    } else {
        "Catalogue"
    };
    html_page(status, page::page(&web.shell(title, "/catalogue"), content))
}

/// The LGSL codes of a manifest, if it has any.
fn lgsl_of(b: &v1::ManifestBody) -> Vec<u32> {
    use v1::manifest_body::Kind;
    match &b.kind {
        Some(Kind::Service(s)) => s.local.as_ref().map(|l| l.lgsl.clone()).unwrap_or_default(),
        Some(Kind::Dataset(d)) => d.local.as_ref().map(|l| l.lgsl.clone()).unwrap_or_default(),
        Some(Kind::Need(n)) => n.lgsl.clone(),
        _ => vec![],
    }
}

fn status_of(b: &v1::ManifestBody) -> &'static str {
    match &b.kind {
        Some(v1::manifest_body::Kind::Service(s)) => lgmesh_protocol::document::enum_label(
            lgmesh_protocol::document::EnumTable::ServiceStatus,
            s.service_status,
        ),
        _ => "",
    }
}

fn row(m: &v1::Manifest) -> Vec<Markup> {
    let empty = v1::ManifestBody::default();
    let b = m.body.as_ref().unwrap_or(&empty);
    let who = if m.org_name.is_empty() {
        m.publisher.clone()
    } else {
        m.org_name.clone()
    };
    let t = title(b);
    vec![
        html! { a href={ "/manifests/" (m.id) } { @if t.is_empty() { (b.name) } @else { (t) } } },
        page::kind_tag(&m.kind),
        html! { a href={ "/organisations/" (m.publisher) } { (who) } },
        html! { @for (i, c) in lgsl_of(b).iter().enumerate() { @if i > 0 { ", " } (c) } },
        html! { (status_of(b)) },
        page::verification_tag_v1(m.verification),
        html! { (m.adopters.len()) },
    ]
}

/// The current page of a search as CSV (up to 100 rows; follow `cursor` for more).
pub(super) async fn search_csv(State(web): State<Arc<Web>>, RawQuery(raw): RawQuery) -> Response {
    let q = Form::parse(raw.as_deref()).and_then(|f| f.query(CSV_SIZE));
    let res = match q {
        Ok(q) => web.app.search(q).await.map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    let res = match res {
        Ok(r) => r,
        Err(e) => return error_page(&web, StatusCode::BAD_REQUEST, "Error: Catalogue", &e),
    };
    let mut c = Csv::new(&[
        "id",
        "kind",
        "name",
        "version",
        "title",
        "publisher",
        "org_id",
        "org_name",
        "lgsl",
        "status",
        "trust",
        "adopters",
    ]);
    for m in res.hits.iter().filter_map(|h| h.manifest.as_ref()) {
        let empty = v1::ManifestBody::default();
        let b = m.body.as_ref().unwrap_or(&empty);
        let lgsl = lgsl_of(b)
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        c.row([
            m.id.as_str(),
            &m.kind,
            &b.name,
            &b.version.to_string(),
            &title(b),
            &m.publisher,
            &m.org_id,
            &m.org_name,
            &lgsl,
            status_of(b),
            crate::view::verification_word(m.verification),
            &m.adopters.len().to_string(),
        ]);
    }
    c.download("catalogue.csv")
}

/// A JSON value of the record as people read it: lists joined, objects as nested lists.
fn value(v: &Value) -> Markup {
    match v {
        Value::String(s) if s.starts_with("https://") || s.starts_with("http://") => {
            html! { a class="lg-code" href=(s) rel="nofollow noopener" { (s) } }
        }
        Value::String(s) => html! { (s) },
        Value::Array(a) if a.iter().all(|x| !x.is_object()) => html! {
            @for (i, x) in a.iter().enumerate() { @if i > 0 { ", " } (value(x)) }
        },
        Value::Array(a) => html! { @for x in a { (value(x)) } },
        Value::Object(o) => page::summary(o.iter().map(|(k, x)| (k.clone(), value(x)))),
        other => html! { (other.to_string()) },
    }
}

/// One manifest: its fields, its versions, the trust explanation and who adopts it.
pub(super) async fn manifest(
    State(web): State<Arc<Web>>,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let mut t = page::Tables::new(&uri);
    let Ok(id) = id.parse::<ManifestId>() else {
        return error_page(
            &web,
            StatusCode::BAD_REQUEST,
            "Not a manifest id",
            "A manifest id is 64 hexadecimal characters.",
        );
    };
    let m = match web.app.manifest_view(id).await {
        Ok(m) => m,
        Err(AppError::NotFound(_)) => {
            return error_page(
                &web,
                StatusCode::NOT_FOUND,
                "Manifest not found",
                "This node holds no manifest with this id.",
            );
        }
        Err(e) => {
            return error_page(
                &web,
                StatusCode::SERVICE_UNAVAILABLE,
                "Store unavailable",
                &e.to_string(),
            );
        }
    };
    let empty = v1::ManifestBody::default();
    let b = m.body.as_ref().unwrap_or(&empty);
    let pk = match m.publisher.parse() {
        Ok(pk) => pk,
        Err(_) => {
            return error_page(
                &web,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Unreadable manifest",
                "Its publisher key could not be read.",
            );
        }
    };
    let history = web
        .app
        .history_view(pk, b.name.clone(), None, 20)
        .await
        .ok();
    let trust = web.app.judge(pk).await.ok();
    let snap = web.snaps.current(&web.app).await;
    let who = if m.org_name.is_empty() {
        m.publisher.clone()
    } else {
        m.org_name.clone()
    };
    let mut facts = vec![
        ("Kind".to_owned(), page::kind_tag(&m.kind)),
        (
            "Publisher".into(),
            html! { a href={ "/organisations/" (m.publisher) } { (who) } br; code class="lg-code" { (m.publisher) } },
        ),
        ("Name".into(), html! { (b.name) }),
        (
            "Version".into(),
            html! { (b.version) @if !m.is_head { " " strong class="lg-tag lg-tag--grey" { "not the current version" } } },
        ),
        ("Signed".into(), html! { (rfc3339(b.issued_at_ms)) }),
        (
            "Expires".into(),
            html! { (rfc3339(b.expires_at_ms)) @if m.expired { " " strong class="lg-tag lg-tag--red" { "expired" } } },
        ),
        ("Id".into(), html! { code class="lg-code" { (m.id) } }),
    ];
    if m.retracted {
        facts.push((
            "Retracted".into(),
            html! { strong class="lg-tag lg-tag--red" { "retracted" } },
        ));
    }
    if m.equivocation {
        facts.push(("Equivocation".into(), html! { strong class="lg-tag lg-tag--red" { "this publisher equivocated" } " " a href="/anomalies" { "see the proof" } }));
    }
    let lgsl: Vec<Markup> = lgsl_of(b)
        .into_iter()
        .map(|c| html! { a href={ "/catalogue?lgsl=" (c) } { (c) } @if let Some(l) = lgsl_label(c) { " " (l) } br; })
        .collect();
    let record = crate::view::record(b);
    let fields: Vec<(String, Markup)> = match &record {
        Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), value(v))).collect(),
        _ => vec![],
    };
    let endorsers: Vec<Markup> = trust
        .iter()
        .flat_map(|t| t.endorsed_by.iter())
        .map(|e| {
            let name = e
                .publisher
                .parse()
                .map_or_else(|_| e.publisher.clone(), |pk| snap.who(&pk));
            html! { a href={ "/organisations/" (e.publisher) } { (name) } " for " (e.org_id) " (" (page::verification_tag_v1(e.verification)) ")" br; }
        })
        .collect();
    let adopters: Vec<Vec<Markup>> = m
        .adopters
        .iter()
        .map(|a| vec![
            html! { a href={ "/organisations/" (a.publisher) } { @if a.org_name.is_empty() { (a.publisher) } @else { (a.org_name) } } },
            page::verification_tag_v1(a.verification),
            html! { @if a.version > 0 { (a.version) } },
        ])
        .collect();
    let versions: Vec<Vec<Markup>> = history
        .iter()
        .flat_map(|h| h.manifests.iter())
        .map(|v| {
            let vb = v.body.as_ref().unwrap_or(&empty);
            vec![
                html! { @if v.id == m.id { (vb.version) " (this one)" } @else { a href={ "/manifests/" (v.id) } { (vb.version) } } },
                html! { (rfc3339(vb.issued_at_ms)) },
                page::kind_tag(&v.kind),
            ]
        })
        .collect();
    let mut trust_rows = vec![
        (
            "Judgement".to_owned(),
            html! { (page::verification_tag_v1(m.verification)) },
        ),
        ("Why".into(), html! { (m.verification_reason) }),
    ];
    if !endorsers.is_empty() {
        trust_rows.push(("Endorsed by".into(), html! { @for e in &endorsers { (e) } }));
    }
    let answers: Vec<Vec<Markup>> = m
        .answers
        .iter()
        .map(|a| vec![
            html! { a href={ "/manifests/" (a.id) } { (a.title) } },
            page::kind_tag(&a.kind),
            html! { a href={ "/organisations/" (a.publisher) } { @if a.org_name.is_empty() { (a.publisher) } @else { (a.org_name) } } },
            page::verification_tag_v1(a.verification),
        ])
        .collect();
    let answering: Vec<v1::NeedRef> = match &b.kind {
        Some(v1::manifest_body::Kind::Service(s)) => s.answers.clone(),
        Some(v1::manifest_body::Kind::Adoption(a)) => a.answers.clone(),
        _ => vec![],
    };
    let answering: Vec<Markup> = answering
        .iter()
        .map(|r| {
            let did = lgmesh_protocol::identity::PublisherKey::from_stored(&r.publisher)
                .map(|k| k.to_string())
                .unwrap_or_default();
            html! { li { a href={ "/names/" (did) "/" (r.name) } { (r.name) } " posted by " (did) } }
        })
        .collect();
    let title_text = match title(b) {
        t if t.is_empty() => b.name.clone(),
        t => t,
    };
    let content = html! {
        (page::summary(facts))
        @if !lgsl.is_empty() {
            h2 class="lg-heading-m" { "LGSL services" }
            p class="lg-body" { @for l in &lgsl { (l) } }
        }
        h2 class="lg-heading-m" { "Trust" }
        p class="lg-body" { "How this node judges the publisher's key. Every node decides for itself." }
        (page::summary(trust_rows))
        @if matches!(m.kind.as_str(), "service" | "dataset") {
            h2 class="lg-heading-m" { "Who uses it" }
            (t.table("adopters", &format!("Organisations that adopt it ({} verified)", m.verified_adopters), &["Organisation", "Trust", "Version used"], &[2], &adopters))
        }
        @if m.kind == "need" {
            h2 class="lg-heading-m" { "Answers" }
            (t.table("answers", "Services and adoptions that say they answer this need", &["Answer", "Kind", "Publisher", "Trust"], &[], &answers))
        }
        @if !answering.is_empty() {
            h2 class="lg-heading-m" { "Needs it answers" }
            ul class="lg-list lg-list--bullet" { @for a in &answering { (a) } }
        }
        h2 class="lg-heading-m" { "Fields" }
        (page::summary(fields))
        h2 class="lg-heading-m" { "Versions" }
        (t.table("versions", "Versions held, newest first", &["Version", "Signed", "Kind"], &[], &versions))
        p class="lg-body-s" { "Summary as of " (rfc3339(snap.built_at_ms)) "." }
    };
    web.answer(t, "manifest", &title_text, "/catalogue", content)
}

/// `/names/{publisher}/{name}`: the current version of a name, by redirect to its page.
pub(super) async fn name(
    State(web): State<Arc<Web>>,
    Path((key, name)): Path<(String, String)>,
) -> Response {
    let Ok(pk) = key.parse() else {
        return error_page(
            &web,
            StatusCode::BAD_REQUEST,
            "Not a publisher key",
            "The address should be /names/did:key:z6Mk…/NAME.",
        );
    };
    match web.app.resolve(pk, name).await {
        Ok(s) => axum::response::Redirect::to(&format!("/manifests/{}", s.id)).into_response(),
        Err(_) => error_page(
            &web,
            StatusCode::NOT_FOUND,
            "Not found",
            "This node holds nothing under that publisher and name.",
        ),
    }
}
