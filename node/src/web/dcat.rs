//! `/catalog.jsonld`: the DCAT-AP 3 catalogue ([`crate::export::dcat`]) of the live
//! services and datasets, [`PAGE`] to a page (`?page=N`, from 1), built from the last
//! summary of the store.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use crate::export::dcat::{self, Agent, Catalogue, Item, PAGE};

use super::Web;

fn refuse(status: StatusCode, why: &str) -> Response {
    (
        status,
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{why}\n"),
    )
        .into_response()
}

pub(super) async fn catalog(
    State(web): State<Arc<Web>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let s = web.snaps.current(&web.app).await;
    // Each page is built in memory from up to PAGE manifests: a few at a time.
    let Ok(_building) = web.dcat_pages.clone().try_acquire_owned() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy: other catalogue pages are being built; try again in a moment",
        );
    };
    let pages = s.catalogue.len().div_ceil(PAGE).max(1);
    let page = match q.get("page").map(|p| p.parse::<usize>()) {
        None => 1,
        Some(Ok(p)) if (1..=pages).contains(&p) => p,
        Some(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("page: a number from 1 to {pages}"),
            );
        }
    };
    let ids: Vec<_> = s
        .catalogue
        .iter()
        .skip((page - 1) * PAGE)
        .take(PAGE)
        .copied()
        .collect();
    let reg = web.app.registry().clone();
    let stored = match web
        .app
        .blocking(move || {
            ids.iter()
                .filter_map(|id| reg.get(id).ok().flatten())
                .collect::<Vec<_>>()
        })
        .await
    {
        Ok(v) => v,
        Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    // An organisation is named as the publisher only when this node verifies the key
    // for it: an org card is a claim, and an impostor's datasets must not be credited
    // to the council it claims to be.
    let agent = |pk| match s.org(pk) {
        Some(o) if o.verification == lgmesh_registry::Verification::Verified => Agent {
            org_id: o.org_id.clone(),
            name: o.name.clone(),
            website: o.website.clone(),
        },
        Some(o) if !o.name.is_empty() => Agent {
            org_id: String::new(),
            name: format!("{} (claimed; key not verified by this node)", o.name),
            website: String::new(),
        },
        _ => Agent::default(),
    };
    let items: Vec<Item> = stored
        .iter()
        .map(|m| Item {
            id: m.id.to_string(),
            publisher: m.publisher.to_string(),
            body: &m.body,
            agent: agent(&m.publisher),
        })
        .collect();
    let c = web.app.config();
    let publisher = if c.org.observer || c.org.name.is_empty() {
        Agent {
            org_id: String::new(),
            name: format!("lgmesh observer node at {}", web.base),
            website: String::new(),
        }
    } else {
        Agent {
            org_id: c.org.id.clone(),
            name: c.org.name.clone(),
            website: c.org.website.clone(),
        }
    };
    let doc = dcat::document(
        &Catalogue {
            base: &web.base,
            publisher,
            modified: crate::view::rfc3339(s.built_at_ms),
            page,
            pages,
            total: s.catalogue.len(),
        },
        &items,
    );
    (
        [(CONTENT_TYPE, "application/ld+json; charset=utf-8")],
        doc.to_string(),
    )
        .into_response()
}
