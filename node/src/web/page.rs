//! The page shell every page shares (header, navigation, skip link, live-update hooks,
//! footer) and the GOV.UK-style components the pages are made of. All HTML is written
//! with `maud`, which escapes every value it interpolates: nothing a publisher signed
//! reaches a page unescaped.

use maud::{DOCTYPE, Markup, html};

use lgmesh_proto::v1;
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_registry::Verification;

/// The pages in the navigation, in order: (path, label).
pub const NAV: [(&str, &str); 6] = [
    ("/", "Overview"),
    ("/catalogue", "Catalogue"),
    ("/organisations", "Organisations"),
    ("/coverage", "LGSL coverage"),
    ("/reuse", "Reuse"),
    ("/anomalies", "Anomalies"),
];

/// What the shell needs besides the page's own content.
pub struct Shell<'a> {
    /// The `<title>`'s first part and the page's `h1`.
    pub title: &'a str,
    /// The navigation entry to mark current.
    pub nav: &'a str,
    /// This node's name for the header (its organisation, or "observer").
    pub node: &'a str,
    /// Whether the page refreshes itself when the store changes.
    pub live: bool,
}

/// A whole page around `content`.
pub fn page(shell: &Shell, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en-GB" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                link rel="icon" href="data:,";
                title { (shell.title) " – lgmesh observatory" }
                link rel="stylesheet" href=(super::assets::STYLE_PATH);
                script defer src=(super::assets::SCRIPT_PATH) {}
            }
            body {
                a class="lg-skip-link" href="#main" { "Skip to main content" }
                header class="lg-header" {
                    div class="lg-width-container lg-header__container" {
                        a class="lg-header__service" href="/" { "lgmesh observatory" }
                        span class="lg-header__node" { "Node: " (shell.node) }
                    }
                }
                nav class="lg-nav" aria-label="Main" {
                    div class="lg-width-container" {
                        ul class="lg-nav__list" {
                            @for (href, label) in NAV {
                                li {
                                    @if href == shell.nav {
                                        a class="lg-nav__link" href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a class="lg-nav__link" href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                }
                div class="lg-width-container" {
                    @if shell.live {
                        main class="lg-main-wrapper" id="main" data-live-src="/events" {
                            h1 class="lg-heading-l" { (shell.title) }
                            div class="lg-notification-banner" role="region" aria-labelledby="lg-live-title" data-live-controls hidden {
                                div class="lg-notification-banner__header" {
                                    h2 class="lg-notification-banner__title" id="lg-live-title" { "Updated live" }
                                }
                                div class="lg-notification-banner__content" {
                                    p class="lg-body" { "This page updates itself as this node receives changes." }
                                    button type="button" class="lg-button lg-button--secondary" data-live-toggle { "Pause live updates" }
                                }
                            }
                            div id="lg-live-status" class="lg-visually-hidden" role="status" aria-live="polite" {}
                            (content)
                        }
                    } @else {
                        main class="lg-main-wrapper" id="main" {
                            h1 class="lg-heading-l" { (shell.title) }
                            (content)
                        }
                    }
                }
                footer class="lg-footer" {
                    div class="lg-width-container" {
                        p {
                            "Read-only. Every node holds the whole catalogue and judges trust for itself: "
                            "what this page calls verified is this node's judgement. "
                            a href="/catalog.jsonld" { "DCAT-AP catalogue (JSON-LD)" }
                        }
                        p class="lg-body-s" {
                            "LGSL: Local Government Services List, LG Inform Plus (LGA), Open Government Licence."
                        }
                    }
                }
            }
        }
    }
}

/// A summary list: rows of (key, value).
pub fn summary(rows: impl IntoIterator<Item = (String, Markup)>) -> Markup {
    html! {
        dl class="lg-summary-list" {
            @for (k, v) in rows {
                div class="lg-summary-list__row" {
                    dt class="lg-summary-list__key" { (k) }
                    dd class="lg-summary-list__value" { (v) }
                }
            }
        }
    }
}

/// A table in a scrolling wrapper (keyboard-focusable, labelled by its caption).
/// `numeric` marks the columns aligned right. `id` makes it one of the page's live
/// regions.
pub fn table(
    id: &str,
    caption: &str,
    heads: &[&str],
    numeric: &[usize],
    rows: &[Vec<Markup>],
) -> Markup {
    let cap_id = format!("{id}-caption");
    html! {
        div class="lg-table-wrapper" tabindex="0" role="region" aria-labelledby=(cap_id) {
            table class="lg-table" id=(id) data-live data-expect-rows[!rows.is_empty()] {
                caption class="lg-table__caption" id=(cap_id) { (caption) }
                thead {
                    tr {
                        @for (i, h) in heads.iter().enumerate() {
                            @if numeric.contains(&i) {
                                th scope="col" class="lg-table__header lg-table__header--numeric" { (h) }
                            } @else {
                                th scope="col" class="lg-table__header" { (h) }
                            }
                        }
                    }
                }
                tbody {
                    @if rows.is_empty() {
                        tr data-empty { td class="lg-table__cell" colspan=(heads.len()) { "None." } }
                    }
                    @for r in rows {
                        tr {
                            @for (i, c) in r.iter().enumerate() {
                                @if numeric.contains(&i) {
                                    td class="lg-table__cell lg-table__cell--numeric" { (c) }
                                } @else {
                                    td class="lg-table__cell" { (c) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A tag for a verification state: green verified, red conflicting or revoked, grey
/// otherwise; the word says it, the colour only repeats it.
pub fn verification_tag(v: Verification) -> Markup {
    let class = match v {
        Verification::Verified => "lg-tag lg-tag--green",
        Verification::Conflicting | Verification::Revoked => "lg-tag lg-tag--red",
        Verification::Rotated => "lg-tag lg-tag--yellow",
        Verification::Unverified => "lg-tag lg-tag--grey",
    };
    html! { strong class=(class) { (v.as_str()) } }
}

/// The same for the API's verification number.
pub fn verification_tag_v1(v: i32) -> Markup {
    verification_tag(match v1::Verification::try_from(v) {
        Ok(v1::Verification::Verified) => Verification::Verified,
        Ok(v1::Verification::Conflicting) => Verification::Conflicting,
        Ok(v1::Verification::Revoked) => Verification::Revoked,
        Ok(v1::Verification::Rotated) => Verification::Rotated,
        _ => Verification::Unverified,
    })
}

/// A tag for a kind of manifest.
pub fn kind_tag(kind: &str) -> Markup {
    let class = match kind {
        "service" => "lg-tag lg-tag--blue",
        "dataset" => "lg-tag lg-tag--green",
        "need" => "lg-tag lg-tag--yellow",
        "retraction" => "lg-tag lg-tag--red",
        _ => "lg-tag lg-tag--grey",
    };
    html! { strong class=(class) { (kind) } }
}

/// A publisher key in full, in monospace (it wraps anywhere).
pub fn key(pk: &PublisherKey) -> Markup {
    html! { code class="lg-code" { (pk.to_string()) } }
}

/// A link to an organisation's page.
pub fn org_link(pk: &PublisherKey, name: &str) -> Markup {
    html! { a href={ "/organisations/" (pk.to_string()) } { (name) } }
}

/// Previous and next links for a page of `total` rows, `size` to a page, now at `at`;
/// `href(n)` makes the link to page `n`.
pub fn pagination(at: usize, size: usize, total: usize, href: impl Fn(usize) -> String) -> Markup {
    let pages = total.div_ceil(size.max(1)).max(1);
    html! {
        @if pages > 1 {
            nav class="lg-pagination" aria-label="Pages" {
                @if at > 0 {
                    a class="lg-pagination__link" href=(href(at - 1)) rel="prev" { "Previous" span class="lg-visually-hidden" { " page" } }
                }
                span class="lg-pagination__status" { "Page " (at + 1) " of " (pages) }
                @if at + 1 < pages {
                    a class="lg-pagination__link" href=(href(at + 1)) rel="next" { "Next" span class="lg-visually-hidden" { " page" } }
                }
            }
        }
    }
}

/// The tables of one page, each with a link that downloads it as CSV: the same URL with
/// `csv=ID`, which the page's handler answers with [`Tables::csv`] instead of HTML.
pub struct Tables {
    /// The page's path and query without `csv`, for the links.
    base: String,
    /// The table asked for as CSV, if any.
    want: Option<String>,
    found: Option<super::csv::Csv>,
}

impl Tables {
    /// The tables of the page at `uri`.
    pub fn new(uri: &axum::http::Uri) -> Self {
        let mut want = None;
        let mut keep = vec![];
        for part in uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            match part.strip_prefix("csv=") {
                Some(id) if want.is_none() => want = Some(id.to_owned()),
                Some(_) => {}
                None => keep.push(part),
            }
        }
        let base = if keep.is_empty() {
            format!("{}?", uri.path())
        } else {
            format!("{}?{}&", uri.path(), keep.join("&"))
        };
        Self {
            base,
            want,
            found: None,
        }
    }

    /// A table (see [`table`]) with its CSV link; kept as CSV when it is the one asked for.
    pub fn table(
        &mut self,
        id: &str,
        caption: &str,
        heads: &[&str],
        numeric: &[usize],
        rows: &[Vec<Markup>],
    ) -> Markup {
        if self.want.as_deref() == Some(id) {
            let mut c = super::csv::Csv::new(heads);
            for r in rows {
                let cells: Vec<String> = r.iter().map(text_of).collect();
                c.row(cells.iter().map(String::as_str));
            }
            self.found = Some(c);
        }
        let href = format!("{}csv={id}", self.base);
        html! {
            (table(id, caption, heads, numeric, rows))
            p class="lg-body-s" { a href=(href) download { "Download this table as CSV" } }
        }
    }

    /// The CSV asked for (`csv=ID`), named `file`; a page that has no such table
    /// answers 404. `None` when no CSV was asked for: serve the page.
    pub fn csv(self, file: &str) -> Option<axum::response::Response> {
        use axum::response::IntoResponse;
        let want = self.want?;
        Some(match self.found {
            Some(c) => c.download(&format!("{file}-{}.csv", super::csv::safe_name(&want))),
            None => (
                axum::http::StatusCode::NOT_FOUND,
                "csv: this page has no table by that name\n",
            )
                .into_response(),
        })
    }
}

/// The text of a cell, as a CSV holds it: our own markup without its tags, entities
/// decoded (maud escapes only these four).
fn text_of(m: &Markup) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for ch in m.0.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

/// Key figures: (value, label, hint).
pub fn stats(items: &[(String, &str, String)]) -> Markup {
    html! {
        ul class="lg-stats" id="stats" data-live {
            @for (value, label, hint) in items {
                li class="lg-stat" {
                    span class="lg-stat__value" { (value) }
                    span class="lg-stat__label" { (label) }
                    @if !hint.is_empty() { span class="lg-stat__hint" { (hint) } }
                }
            }
        }
    }
}

/// A number with thousands separators: 12,345.
pub fn num(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A link that downloads the CSV at `href`.
pub fn csv_link(href: &str, what: &str) -> Markup {
    html! { p class="lg-body" { a href=(href) download { "Download " (what) " as CSV" } } }
}
