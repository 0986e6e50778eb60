//! Trust: how this node judges publisher keys, and the records that change it
//! (`endorse`, `revoke`).

use anyhow::{Result, anyhow, bail};
use lgmesh_proto::v1;
use lgmesh_protocol::identity::OrgId;
use serde_json::json;

use super::{connect, key_arg, publish_content, with_token};
use crate::cli::args::{EndorseArgs, RevokeArgs, TrustCommand};
use crate::datadir::DataDir;
use crate::view;

fn state_arg(s: Option<&str>) -> Result<v1::Verification> {
    Ok(match s.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("all") => v1::Verification::Unspecified,
        Some("verified") => v1::Verification::Verified,
        Some("unverified") => v1::Verification::Unverified,
        Some("conflicting") => v1::Verification::Conflicting,
        Some("revoked") => v1::Verification::Revoked,
        Some("rotated") => v1::Verification::Rotated,
        Some(other) => {
            bail!("--state: {other:?} is not verified, unverified, conflicting, revoked or rotated")
        }
    })
}

fn trust_json(t: &v1::PublisherTrust) -> serde_json::Value {
    json!({
        "publisher": t.publisher, "verification": view::verification_word(t.verification),
        "reason": t.reason, "claimedOrgId": t.claimed_org_id, "orgName": t.org_name,
        "verifiedOrgId": t.verified_org_id, "operatorTrusted": t.operator_trusted,
        "endorsedBy": t.endorsed_by.iter().map(|e| json!({
            "publisher": e.publisher, "orgId": e.org_id,
            "verification": view::verification_word(e.verification),
        })).collect::<Vec<_>>(),
        "rivals": t.rivals, "rivalCount": t.rival_count,
        "rotatedTo": (!t.rotated_to.is_empty()).then_some(&t.rotated_to),
        "validCount": t.valid_count,
        "domainProof": t.domain_proof.as_ref().map(|d| json!({
            "website": d.website, "proven": d.proven, "host": d.host,
            "checkedAt": view::rfc3339(d.checked_at_ms),
            "provenAt": (d.proven_at_ms > 0).then(|| view::rfc3339(d.proven_at_ms)),
            "validUntil": (d.valid_until_ms > 0).then(|| view::rfc3339(d.valid_until_ms)),
            "result": d.result, "detail": d.detail,
        })),
    })
}

fn print_trust(t: &v1::PublisherTrust) {
    let org = if t.org_name.is_empty() {
        "(no org card seen)".to_owned()
    } else {
        format!("{} ({})", t.org_name, t.claimed_org_id)
    };
    out!(
        "{}  {}",
        t.publisher,
        view::verification_word(t.verification)
    );
    out!("  organisation  {org}");
    out!("  why           {}", t.reason);
    if t.operator_trusted {
        out!(
            "  trusted by this node's operator for {}",
            t.verified_org_id
        );
    }
    for e in &t.endorsed_by {
        out!(
            "  endorsed by   {} as {} ({})",
            e.publisher,
            e.org_id,
            view::verification_word(e.verification)
        );
    }
    for r in &t.rivals {
        out!("  also claims {}: {r}", t.claimed_org_id);
    }
    if t.rival_count > t.rivals.len() as u64 {
        out!(
            "  and {} more keys claim {} (lgmesh trust list)",
            t.rival_count - t.rivals.len() as u64,
            t.claimed_org_id
        );
    }
    if !t.rotated_to.is_empty() {
        out!("  rotated to    {}", t.rotated_to);
    }
    if t.valid_count > 0 {
        out!(
            "  still counts  {} manifest(s) its rotation or revocation names",
            t.valid_count
        );
    }
    if let Some(d) = &t.domain_proof {
        if d.proven {
            out!(
                "  domain proof  holds: {} (checked {}, counts until {})",
                d.host,
                view::rfc3339(d.checked_at_ms),
                view::rfc3339(d.valid_until_ms)
            );
        } else {
            out!(
                "  domain proof  none: {} (checked {})",
                d.result,
                view::rfc3339(d.checked_at_ms)
            );
        }
        if d.result != "proven" {
            out!("                {}", d.detail);
        }
    }
}

/// `lgmesh trust …`.
pub async fn trust(dir: &DataDir, c: TrustCommand) -> Result<()> {
    use v1::trust_client::TrustClient;
    let checking = matches!(c, TrustCommand::Check { .. });
    let (out, r) = match c {
        TrustCommand::Add {
            publisher,
            org,
            out,
        } => {
            let mut client = TrustClient::new(connect(dir, &out).await?);
            let req = with_token(
                dir,
                &out,
                v1::TrustAddRequest {
                    publisher,
                    org_id: org,
                },
            )?;
            (out, client.add(req).await?.into_inner())
        }
        TrustCommand::Remove { publisher, out } => {
            let mut client = TrustClient::new(connect(dir, &out).await?);
            let req = with_token(dir, &out, v1::TrustRemoveRequest { publisher })?;
            (out, client.remove(req).await?.into_inner())
        }
        TrustCommand::Check { publisher, out } => {
            let channel = connect(dir, &out).await?;
            let publisher = match publisher {
                Some(p) => p,
                None => {
                    v1::node_client::NodeClient::new(channel.clone())
                        .info(v1::InfoRequest {})
                        .await?
                        .into_inner()
                        .publisher
                }
            };
            let mut client = TrustClient::new(channel);
            let req = with_token(dir, &out, v1::TrustGetRequest { publisher })?;
            (out, client.check_domain(req).await?.into_inner())
        }
        TrustCommand::Show { publisher, out } => {
            let mut client = TrustClient::new(connect(dir, &out).await?);
            let r = client.get(v1::TrustGetRequest { publisher }).await?;
            (out, r.into_inner())
        }
        TrustCommand::List { state, out } => {
            let verification = state_arg(state.as_deref())? as i32;
            let mut client = TrustClient::new(connect(dir, &out).await?);
            // A page at a time: a node may know tens of thousands of keys.
            let (mut after, mut all, mut n) = (String::new(), vec![], 0usize);
            loop {
                let r = client
                    .list(v1::TrustListRequest {
                        verification,
                        page_size: 0,
                        after: after.clone(),
                    })
                    .await?
                    .into_inner();
                n += r.publishers.len();
                for t in &r.publishers {
                    if out.json {
                        all.push(trust_json(t));
                        continue;
                    }
                    let org = if t.org_name.is_empty() {
                        "-"
                    } else {
                        &t.org_name
                    };
                    out!(
                        "{:<12} {}  {} ({})",
                        view::verification_word(t.verification),
                        t.publisher,
                        org,
                        t.reason
                    );
                }
                if r.next.is_empty() {
                    break;
                }
                after = r.next;
            }
            if out.json {
                out!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "publishers": all }))?
                );
            } else if n == 0 {
                out!("No publishers known yet.");
            } else {
                out!("\n{n} publisher(s).");
            }
            return Ok(());
        }
    };
    if out.json {
        out!("{}", serde_json::to_string_pretty(&trust_json(&r))?);
    } else {
        print_trust(&r);
    }
    if checking && !r.domain_proof.as_ref().is_some_and(|d| d.proven) {
        let why = r
            .domain_proof
            .as_ref()
            .map_or("not checked".to_owned(), |d| d.detail.clone());
        bail!("domain proof does not hold: {why}");
    }
    Ok(())
}

/// `lgmesh endorse`.
pub async fn endorse(dir: &DataDir, a: EndorseArgs) -> Result<()> {
    let subject = key_arg("publisher", &a.publisher)?;
    let org: OrgId = a.org.parse().map_err(|e| anyhow!("--org: {e}"))?;
    let content = v1::publish_request::Content::Endorsement(v1::Endorsement {
        subject: subject.as_bytes().to_vec(),
        org_id: org.to_string(),
        note: a.note,
    });
    publish_content(dir, &a.out, String::new(), content).await
}

/// `lgmesh revoke`.
pub async fn revoke(dir: &DataDir, a: RevokeArgs) -> Result<()> {
    let subject = key_arg("publisher", &a.publisher)?;
    if a.reason.trim().is_empty() {
        bail!("--reason: say why the key is revoked");
    }
    let content = v1::publish_request::Content::Revocation(v1::Revocation {
        valid_ids: vec![],
        subject: subject.as_bytes().to_vec(),
        revoked_at_ms: a.since_ms.unwrap_or(0),
        reason: a.reason,
    });
    publish_content(dir, &a.out, String::new(), content).await
}
