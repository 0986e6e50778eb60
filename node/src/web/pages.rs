//! The pages drawn from the store's summary: overview, organisations, LGSL coverage and
//! duplication, reuse, anomalies; and their CSV downloads.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use maud::{Markup, html};

use lgmesh_protocol::identity::PublisherKey;
use lgmesh_protocol::validate::Reason;

use super::csv::Csv;
use super::page::{self, num};
use super::snapshot::{QUIET_AFTER_MS, short_key};
use super::{Web, chart, error_page};
use crate::metrics::Source;
use crate::view::rfc3339;

/// Rows to a page in the long tables.
const PAGE: usize = 100;

/// `?page=N` (from 1) as an index from 0; anything else is the first page.
fn page_of(q: &HashMap<String, String>) -> usize {
    q.get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .map_or(0, |p| p.saturating_sub(1))
        .min(1_000_000)
}

/// The day part of a time: `2026-12-04`.
fn day(ms: u64) -> String {
    rfc3339(ms).get(..10).unwrap_or_default().to_owned()
}

/// The LGSL codes and their labels, built into the binary (`node/data/lgsl.csv`).
pub fn lgsl() -> &'static [(u32, String)] {
    static LIST: OnceLock<Vec<(u32, String)>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("../../data/lgsl.csv")
            .lines()
            .skip(1)
            .filter_map(|line| {
                let (code, label) = line.split_once(',')?;
                let label = match label.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
                    Some(q) => q.replace("\"\"", "\""),
                    None => label.to_owned(),
                };
                Some((code.parse().ok()?, label))
            })
            .collect()
    })
}

/// The label of an LGSL code, if the list has it.
pub fn lgsl_label(code: u32) -> Option<&'static str> {
    let list = lgsl();
    list.binary_search_by_key(&code, |(c, _)| *c)
        .ok()
        .map(|i| list[i].1.as_str())
}

/// An organisation type in words.
pub(crate) fn org_type(t: i32) -> &'static str {
    use lgmesh_proto::v1::OrgType as T;
    match T::try_from(t) {
        Ok(T::County) => "County council",
        Ok(T::District) => "District council",
        Ok(T::Unitary) => "Unitary authority",
        Ok(T::LondonBorough) => "London borough",
        Ok(T::MetropolitanDistrict) => "Metropolitan district",
        Ok(T::ScottishCouncil) => "Scottish council",
        Ok(T::WelshCouncil) => "Welsh council",
        Ok(T::NiCouncil) => "Northern Ireland council",
        Ok(T::ParishTown) => "Parish or town council",
        Ok(T::CombinedAuthority) => "Combined authority",
        Ok(T::ThirdSector) => "Third sector",
        Ok(T::Central) => "Central government",
        Ok(T::Other) => "Other",
        _ => "",
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".into()
    } else {
        format!("{:.0}%", part as f64 * 100.0 / whole as f64)
    }
}

pub(super) async fn overview(State(web): State<Arc<Web>>, uri: Uri) -> Response {
    let mut t = page::Tables::new(&uri);
    let s = web.snaps.current(&web.app).await;
    let peers = match web.app.net() {
        Some(n) => tokio::time::timeout(std::time::Duration::from_secs(1), n.info())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|i| i.peers),
        None => None,
    };
    let with_cards = s.orgs.iter().filter(|o| !o.org_id.is_empty()).count() as u64;
    let verified_orgs = s
        .orgs
        .iter()
        .filter(|o| {
            !o.org_id.is_empty() && o.verification == lgmesh_registry::Verification::Verified
        })
        .count() as u64;
    let lag = web.app.metrics().propagation_lag();
    let figures = [
        (
            num(with_cards),
            "organisations",
            format!("{} verified by this node", num(verified_orgs)),
        ),
        (
            num(s.nodes_on_cards as u64),
            "nodes named on org cards",
            peers.map_or(String::new(), |p| {
                format!("{} connected to this node now", num(p as u64))
            }),
        ),
        (
            num(s.live),
            "live manifests",
            format!(
                "{} retracted, {} expired",
                num(s.retracted),
                num(s.expired_count)
            ),
        ),
        (
            percent(s.verified, s.live),
            "verified",
            "of live manifests, by this node's judgement".into(),
        ),
        (
            lag.map_or("–".into(), |(p50, _)| {
                format!("{:.1} s", p50 as f64 / 1000.0)
            }),
            "propagation lag",
            lag.map_or("no gossip received yet".into(), |(_, p95)| {
                format!(
                    "median from signing to arrival; 95th percentile {:.1} s",
                    p95 as f64 / 1000.0
                )
            }),
        ),
    ];
    let kinds: Vec<Vec<Markup>> = s
        .by_kind
        .iter()
        .map(|(k, n)| {
            vec![
                html! { a href={ "/catalogue?kind=" (k) } { (k) } },
                html! { (num(*n)) },
            ]
        })
        .collect();
    let history = web.snaps.history();
    let growth: Vec<(String, u64)> = history
        .iter()
        .rev()
        .take(90)
        .rev()
        .map(|p| (p.day.get(5..).unwrap_or(&p.day).to_owned(), p.live))
        .collect();
    let months: Vec<(String, u64)> = s
        .by_month
        .iter()
        .rev()
        .take(24)
        .rev()
        .map(|(m, n)| (m.clone(), *n))
        .collect();
    let mut standards: Vec<(&String, &u32)> = s.standards.iter().collect();
    standards.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let content = html! {
        p class="lg-body" {
            "The federation as this node holds it, summarised "
            span id="built" data-live { (rfc3339(s.built_at_ms)) " (in " (s.build_ms) " ms)" }
            ". Every node holds the whole catalogue; figures on another node may differ by what is still in flight."
        }
        (page::stats(&figures))
        h2 class="lg-heading-m" { "Growth" }
        (chart::bars(
            "growth",
            "Live manifests, day by day, as this node saw them",
            "A bar for each day this node has run, up to 90 days: the number of live manifests it held that day.",
            &growth,
        ))
        (t.table("growth-table", "Live manifests by day", &["Day", "Live manifests", "Organisations"], &[1, 2],
            &history.iter().rev().take(14).map(|p| vec![html!{ (p.day) }, html!{ (num(p.live)) }, html!{ (num(p.orgs)) }]).collect::<Vec<_>>()))
        h2 class="lg-heading-m" { "Activity" }
        (chart::bars(
            "activity",
            "Live manifests by the month their current version was signed",
            "A bar for each month: how many of the live manifests were last signed then (the publishers' own times, never later than arrival).",
            &months,
        ))
        h2 class="lg-heading-m" { "What is published" }
        (t.table("kinds", "Live manifests by kind", &["Kind", "Live"], &[1], &kinds))
        (t.table(
            "standards",
            "Standards most conformed to",
            &["Standard", "Live manifests"],
            &[1],
            &standards.iter().take(15).map(|(st, n)| vec![
                html! { a href={ "/catalogue?standard=" (urlencode(st)) } { (st) } },
                html! { (num(u64::from(**n))) },
            ]).collect::<Vec<_>>(),
        ))
    };
    web.answer(t, "overview", "Overview", "/", content)
}

/// Percent-encodes a query value.
pub(crate) fn urlencode(s: &str) -> String {
    crate::view::percent_encode(s, b"")
}

fn org_rows(rows: &[&super::snapshot::OrgRow]) -> Vec<Vec<Markup>> {
    rows.iter()
        .map(|o| {
            let name = if o.name.is_empty() {
                short_key(&o.publisher)
            } else {
                o.name.clone()
            };
            vec![
                page::org_link(&o.publisher, &name),
                html! { (o.org_id) },
                html! { (org_type(o.org_type)) },
                page::verification_tag(o.verification),
                html! { (num(u64::from(o.services))) },
                html! { (num(u64::from(o.datasets))) },
                html! { (num(u64::from(o.adoptions))) },
                html! { (day(o.last_signed_ms)) },
            ]
        })
        .collect()
}

pub(super) async fn organisations(
    State(web): State<Arc<Web>>,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
) -> Response {
    let mut t = page::Tables::new(&uri);
    let s = web.snaps.current(&web.app).await;
    let at = page_of(&q);
    let rows: Vec<&super::snapshot::OrgRow> = s
        .orgs
        .iter()
        .skip(at.saturating_mul(PAGE))
        .take(PAGE)
        .collect();
    let content = html! {
        p class="lg-body" {
            (num(s.orgs.len() as u64)) " publishers. An organisation is what its org card says; "
            "whether this node believes it is the trust judgement (verified by the operator, by endorsements from verified organisations, or by the organisation's website)."
        }
        (page::csv_link("/organisations.csv", "every organisation"))
        (t.table(
            "orgs",
            "Organisations",
            &["Organisation", "Org id", "Type", "Trust", "Services", "Datasets", "Adopts", "Last signed"],
            &[4, 5, 6],
            &org_rows(&rows),
        ))
        (page::pagination(at, PAGE, s.orgs.len(), |p| format!("/organisations?page={}", p + 1)))
    };
    web.answer(
        t,
        "organisations",
        "Organisations",
        "/organisations",
        content,
    )
}

pub(super) async fn organisations_csv(State(web): State<Arc<Web>>) -> Response {
    let s = web.snaps.current(&web.app).await;
    let mut c = Csv::new(&[
        "publisher",
        "org_id",
        "name",
        "type",
        "trust",
        "services",
        "datasets",
        "needs",
        "adoptions",
        "last_signed",
    ]);
    for o in &s.orgs {
        c.row([
            o.publisher.to_string().as_str(),
            &o.org_id,
            &o.name,
            org_type(o.org_type),
            o.verification.as_str(),
            &o.services.to_string(),
            &o.datasets.to_string(),
            &o.needs.to_string(),
            &o.adoptions.to_string(),
            &rfc3339(o.last_signed_ms),
        ]);
    }
    c.download("organisations.csv")
}

pub(super) async fn organisation(
    State(web): State<Arc<Web>>,
    Path(key): Path<String>,
    uri: Uri,
) -> Response {
    let mut t = page::Tables::new(&uri);
    let Ok(pk) = key.parse::<PublisherKey>() else {
        return error_page(
            &web,
            StatusCode::BAD_REQUEST,
            "Not a publisher key",
            "The address should end in a publisher key, did:key:z6Mk…",
        );
    };
    let s = web.snaps.current(&web.app).await;
    let reg = web.app.registry().clone();
    let heads = match web.app.blocking(move || reg.heads_of(&pk)).await {
        Ok(Ok(h)) => h,
        _ => {
            return error_page(
                &web,
                StatusCode::SERVICE_UNAVAILABLE,
                "Store unavailable",
                "Try again shortly.",
            );
        }
    };
    let trust = web.app.judge(pk).await.ok();
    let name = s.who(&pk);
    let row = s.org(&pk);
    let now = lgmesh_protocol::now_ms();
    let rows: Vec<Vec<Markup>> = heads
        .iter()
        .filter(|m| m.kind() != "retraction")
        .map(|m| {
            vec![
                html! { a href={ "/manifests/" (m.id.to_string()) } { (crate::view::title(&m.body)) } },
                page::kind_tag(m.kind()),
                html! { (m.body.name) },
                html! { (m.body.version) },
                html! { @if m.body.expires_at_ms <= now { strong class="lg-tag lg-tag--red" { "expired" } } @else { (day(m.body.expires_at_ms)) } },
            ]
        })
        .collect();
    let mut summary = vec![("Publisher key".to_owned(), page::key(&pk))];
    if let Some(o) = row {
        summary.push(("Organisation id".into(), html! { (o.org_id) }));
        summary.push(("Type".into(), html! { (org_type(o.org_type)) }));
        if !o.website.is_empty() {
            summary.push(("Website".into(), html! { (o.website) }));
        }
        summary.push((
            "Nodes".into(),
            html! { @for n in &o.node_ids { code class="lg-code" { (n) } br; } },
        ));
        summary.push(("Last signed".into(), html! { (rfc3339(o.last_signed_ms)) }));
    }
    if let Some(t) = &trust {
        summary.push((
            "Trust".into(),
            html! { (page::verification_tag_v1(t.verification)) " " (t.reason) },
        ));
    }
    let content = html! {
        (page::summary(summary))
        (t.table("heads", "What it publishes", &["Title", "Kind", "Name", "Version", "Expires"], &[3], &rows))
    };
    let title = if name.is_empty() {
        "Organisation".to_owned()
    } else {
        name
    };
    web.answer(t, "organisation", &title, "/organisations", content)
}

pub(super) async fn coverage(
    State(web): State<Arc<Web>>,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
) -> Response {
    let mut t = page::Tables::new(&uri);
    let s = web.snaps.current(&web.app).await;
    let all = q.get("all").is_some_and(|v| v == "1");
    let mut rows = vec![];
    let mut active = 0;
    let mut duplicated = 0;
    for (code, label) in lgsl() {
        let c = s.coverage.get(code);
        let (p, a, n) = c.map_or((0, 0, 0), |c| {
            (c.publishers.len(), c.adopters.len(), c.needs)
        });
        let u = c.map_or(0, |c| c.unverified.len());
        if p + a + u > 0 || n > 0 {
            active += 1;
        }
        let dup = p >= 2 && a < p;
        if dup {
            duplicated += 1;
        }
        if !all && p + a + u == 0 && n == 0 {
            continue;
        }
        rows.push(vec![
            html! { a href={ "/catalogue?lgsl=" (code) } { (code) } },
            html! { (label) },
            html! { (p) },
            html! { (a) },
            html! { (u) },
            html! { (n) },
            html! { @if dup { strong class="lg-tag lg-tag--yellow" { "duplicated" } } },
        ]);
    }
    let content = html! {
        p class="lg-body" {
            "For each service in the Local Government Services List (LGSL): how many organisations publish a service or dataset for it, and how many reuse one (adopt one another organisation published). "
            "Several publishing and few reusing marks likely duplication: councils building the same thing apart. "
            "Only keys this node verifies count as organisations; keys it does not verify are counted apart."
        }
        p class="lg-body" { (active) " of " (lgsl().len()) " LGSL services have activity; " (duplicated) " look duplicated." }
        p class="lg-body" {
            @if all { a href="/coverage" { "Show only services with activity" } }
            @else { a href="/coverage?all=1" { "Show all " (lgsl().len()) " LGSL services" } }
        }
        (page::csv_link("/coverage.csv", "coverage of every LGSL service"))
        (t.table("coverage", "LGSL coverage and duplication", &["LGSL", "Service", "Publishing", "Reusing", "Unverified keys", "Needs", ""], &[2, 3, 4, 5], &rows))
    };
    web.answer(
        t,
        "coverage",
        "LGSL coverage and duplication",
        "/coverage",
        content,
    )
}

pub(super) async fn coverage_csv(State(web): State<Arc<Web>>) -> Response {
    let s = web.snaps.current(&web.app).await;
    let mut c = Csv::new(&[
        "lgsl_code",
        "label",
        "publishing_orgs",
        "reusing_orgs",
        "needs",
        "duplicated",
        "unverified_keys",
    ]);
    for (code, label) in lgsl() {
        let cov = s.coverage.get(code);
        let (p, a, n) = cov.map_or((0, 0, 0), |c| {
            (c.publishers.len(), c.adopters.len(), c.needs)
        });
        let u = cov.map_or(0, |c| c.unverified.len()).to_string();
        c.row([
            code.to_string().as_str(),
            label,
            &p.to_string(),
            &a.to_string(),
            &n.to_string(),
            if p >= 2 && a < p { "true" } else { "false" },
            &u,
        ]);
    }
    c.download("lgsl-coverage.csv")
}

pub(super) async fn reuse(
    State(web): State<Arc<Web>>,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
) -> Response {
    let mut t = page::Tables::new(&uri);
    let s = web.snaps.current(&web.app).await;
    let at = page_of(&q);
    let uses: Vec<Vec<Markup>> = s
        .uses
        .iter()
        .skip(at.saturating_mul(PAGE))
        .take(PAGE)
        .map(|u| {
            let service = match s.offers.get(&(u.service_publisher, u.service_name.clone())) {
                Some(o) => html! { a href={ "/manifests/" (o.id.to_string()) } { (o.title) } },
                None => {
                    html! { (u.service_name) " " span class="lg-tag lg-tag--grey" { "not held" } }
                }
            };
            vec![
                page::org_link(&u.adopter, &s.who(&u.adopter)),
                service,
                page::org_link(&u.service_publisher, &s.who(&u.service_publisher)),
                html! { @if u.version > 0 { (u.version) } },
                html! { (u.note) },
            ]
        })
        .collect();
    let needs: Vec<Vec<Markup>> = s
        .needs
        .iter()
        .take(PAGE)
        .map(|n| {
            let offers: usize = n
                .lgsl
                .iter()
                .filter_map(|c| s.coverage.get(c))
                .map(|c| c.publishers.len())
                .sum();
            let answers = s.answered.get(&(n.publisher, n.name.clone())).copied().unwrap_or(0);
            vec![
                html! { a href={ "/manifests/" (n.id.to_string()) } { (n.title) } },
                page::org_link(&n.publisher, &s.who(&n.publisher)),
                html! { @for (i, c) in n.lgsl.iter().enumerate() { @if i > 0 { ", " } a href={ "/catalogue?lgsl=" (c) } { (c) } } },
                html! { (offers) },
                html! { @if answers > 0 { strong class="lg-tag lg-tag--green" { (answers) " answered" } } @else { "0" } },
            ]
        })
        .collect();
    let content = html! {
        p class="lg-body" { "Who uses whose services (adoptions, signed by the organisation that uses the service), and what organisations have said they need." }
        (page::csv_link("/adoptions.csv", "every adoption"))
        (t.table("uses", "Adoptions", &["Organisation", "Uses", "Published by", "Version", "Note"], &[3], &uses))
        (page::pagination(at, PAGE, s.uses.len(), |p| format!("/reuse?page={}", p + 1)))
        h2 class="lg-heading-m" { "Needs" }
        (page::csv_link("/needs.csv", "every need"))
        (t.table("needs", "Needs and the organisations publishing for their LGSL services", &["Need", "Posted by", "LGSL", "Publishing for it", "Answers"], &[3, 4], &needs))
    };
    web.answer(t, "reuse", "Reuse", "/reuse", content)
}

pub(super) async fn adoptions_csv(State(web): State<Arc<Web>>) -> Response {
    let s = web.snaps.current(&web.app).await;
    let mut c = Csv::new(&[
        "adopter",
        "adopter_org",
        "service_publisher",
        "service_org",
        "service_name",
        "version",
        "note",
    ]);
    for u in &s.uses {
        c.row([
            u.adopter.to_string().as_str(),
            &s.who(&u.adopter),
            &u.service_publisher.to_string(),
            &s.who(&u.service_publisher),
            &u.service_name,
            &u.version.to_string(),
            &u.note,
        ]);
    }
    c.download("adoptions.csv")
}

pub(super) async fn needs_csv(State(web): State<Arc<Web>>) -> Response {
    let s = web.snaps.current(&web.app).await;
    let mut c = Csv::new(&["id", "publisher", "org", "name", "title", "lgsl", "answers"]);
    for n in &s.needs {
        let codes = n
            .lgsl
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let answers = s
            .answered
            .get(&(n.publisher, n.name.clone()))
            .copied()
            .unwrap_or(0);
        c.row([
            n.id.to_string().as_str(),
            &n.publisher.to_string(),
            &s.who(&n.publisher),
            &n.name,
            &n.title,
            &codes,
            &answers.to_string(),
        ]);
    }
    c.download("needs.csv")
}

pub(super) async fn anomalies(State(web): State<Arc<Web>>, uri: Uri) -> Response {
    let mut t = page::Tables::new(&uri);
    let s = web.snaps.current(&web.app).await;
    let m = web.app.metrics();
    let sources = [Source::Local, Source::Submit, Source::Gossip, Source::Sync];
    let mut rejected: Vec<Vec<Markup>> = vec![];
    for (reason, n) in m.rejected_by_reason(&sources) {
        if n > 0 {
            rejected.push(vec![html! { (reason_name(reason)) }, html! { (num(n)) }]);
        }
    }
    if let Some(net) = web.app.net() {
        for (r, n) in net.stats().snapshot().refused {
            if n > 0 {
                rejected.push(vec![
                    html! { "refused by the network: " (r) },
                    html! { (num(n)) },
                ]);
            }
        }
    }
    let peers: Vec<Vec<Markup>> = match web.app.peers().await {
        Ok(p) => p
            .peers
            .iter()
            .filter(|p| p.strikes > 0)
            .map(|p| {
                vec![
                    html! { code class="lg-code" { (p.peer_id) } },
                    html! { (p.agent) },
                    html! { (p.strikes) },
                ]
            })
            .collect(),
        Err(_) => vec![],
    };
    let equivocations: Vec<Vec<Markup>> = s
        .equivocations
        .iter()
        .map(|e| {
            vec![
                page::org_link(&e.publisher, &s.who(&e.publisher)),
                html! { (e.name) },
                html! { (e.version) },
                html! { @for id in &e.ids { a href={ "/manifests/" (id.to_string()) } { code class="lg-code" { (id.to_string().get(..16).unwrap_or_default()) "…" } } br; } },
            ]
        })
        .collect();
    let conflicting: Vec<Vec<Markup>> = s
        .conflicting()
        .take(PAGE)
        .map(|o| {
            vec![
                page::org_link(&o.publisher, &s.who(&o.publisher)),
                html! { (o.org_id) },
                html! { (o.reason) },
            ]
        })
        .collect();
    let expired: Vec<Vec<Markup>> = s
        .expired
        .iter()
        .take(PAGE)
        .map(|e| {
            vec![
                html! { a href={ "/manifests/" (e.id.to_string()) } { (e.title) } },
                page::kind_tag(e.kind),
                page::org_link(&e.publisher, &s.who(&e.publisher)),
                html! { (day(e.expires_at_ms)) },
            ]
        })
        .collect();
    let quiet: Vec<Vec<Markup>> = s
        .quiet()
        .take(PAGE)
        .map(|o| {
            vec![
                page::org_link(&o.publisher, &s.who(&o.publisher)),
                html! { (o.org_id) },
                html! { (day(o.last_signed_ms)) },
            ]
        })
        .collect();
    let content = html! {
        p class="lg-body" { "What this node refused, and what it holds that deserves a look. Counts of rejections are since this node started." }
        (t.table("rejections", "Rejections by reason", &["Reason", "Count"], &[1], &rejected))
        (t.table("peers", "Connected peers with strikes (invalid messages sent)", &["Peer", "Runs", "Strikes"], &[2], &peers))
        h2 class="lg-heading-m" { "Equivocations" }
        p class="lg-body" { "A publisher that signed two different manifests with the same version. The two signed manifests are the proof: anyone can check them." }
        (t.table("equivocations", "Equivocations, with their proof", &["Publisher", "Name", "Version", "Manifests"], &[2], &equivocations))
        h2 class="lg-heading-m" { "Conflicting organisation claims" }
        (t.table("conflicting", "Keys whose organisation another key also claims", &["Publisher", "Claims", "Why"], &[], &conflicting))
        h2 class="lg-heading-m" { "Expired" }
        (page::csv_link("/expired.csv", "every expired manifest"))
        (t.table("expired", &format!("Expired manifests ({})", num(s.expired_count)), &["Title", "Kind", "Publisher", "Expired"], &[], &expired))
        h2 class="lg-heading-m" { "Gone quiet" }
        p class="lg-body" { "Publishers that have signed nothing for " (QUIET_AFTER_MS / (24 * 3600 * 1000)) " days. A running node renews what it publishes, so silence this long usually means the node is gone." }
        (t.table("quiet", "Publishers gone quiet", &["Publisher", "Org id", "Last signed"], &[], &quiet))
    };
    web.answer(t, "anomalies", "Anomalies", "/anomalies", content)
}

fn reason_name(r: Reason) -> String {
    format!("{r:?}").to_lowercase()
}

pub(super) async fn expired_csv(State(web): State<Arc<Web>>) -> Response {
    let s = web.snaps.current(&web.app).await;
    let mut c = Csv::new(&["id", "kind", "title", "publisher", "org", "expired_at"]);
    for e in &s.expired {
        c.row([
            e.id.to_string().as_str(),
            e.kind,
            &e.title,
            &e.publisher.to_string(),
            &s.who(&e.publisher),
            &rfc3339(e.expires_at_ms),
        ]);
    }
    c.download("expired.csv")
}
