//! Manifests: publish, retract, search, show, history, watch; and the records of reuse
//! and need (`adopt`, `need`).

use anyhow::{Context, Result, anyhow, bail};
use lgmesh_proto::v1::{self, registry_client::RegistryClient};
use lgmesh_protocol::document::Format;
use serde_json::json;

use super::{Target, connect, key_arg, print_write, publish_content, target, with_token};
use crate::cli::args::{
    AdoptArgs, NeedArgs, PublishArgs, RetractArgs, SearchArgs, ShowArgs, WatchArgs,
};
use crate::cli::{format_of, read_doc, status_line};
use crate::datadir::DataDir;
use crate::view;

/// `lgmesh publish`.
pub async fn publish(dir: &DataDir, a: PublishArgs) -> Result<()> {
    if std::path::Path::new(&a.file).is_dir() {
        return publish_dir(dir, a).await;
    }
    let format = format_of(&a.file, a.format.as_deref())?;
    let text = read_doc(&a.file)?;
    let name_label = match format {
        Format::Toml => "toml",
        Format::Yaml => "yaml",
        Format::Json => "json",
    };
    let req = with_token(
        dir,
        &a.out,
        v1::PublishRequest {
            name: a.name.unwrap_or_default(),
            content: Some(v1::publish_request::Content::Document(v1::Document {
                format: name_label.into(),
                text,
            })),
        },
    )?;
    let mut client = RegistryClient::new(connect(dir, &a.out).await?);
    let r = client
        .publish(req)
        .await
        .map_err(|s| anyhow!("{}: {}", a.file, status_line(&s)))?
        .into_inner();
    print_write(r, a.out.json)
}

/// Files published from one folder at most.
const MAX_FOLDER_FILES: usize = 10_000;

/// `lgmesh publish DIR`: every .toml, .yaml, .yml and .json file in the folder (not its
/// subfolders), in name order, over one connection. A file that fails is reported and
/// the rest go on; the command fails if any did.
async fn publish_dir(dir: &DataDir, a: PublishArgs) -> Result<()> {
    if a.name.is_some() {
        bail!(
            "--name: names one manifest, so it cannot be used with a folder ({})",
            a.file
        );
    }
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&a.file)
        .with_context(|| format!("{}: cannot read the folder", a.file))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            // Not hidden files (an editor's .swp, a `.draft.toml`).
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                && p.is_file()
                && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    ["toml", "yaml", "yml", "json"].contains(&e.to_ascii_lowercase().as_str())
                })
        })
        .take(MAX_FOLDER_FILES + 1)
        .collect();
    if files.is_empty() {
        bail!("{}: no .toml, .yaml, .yml or .json files in it", a.file);
    }
    if files.len() > MAX_FOLDER_FILES {
        bail!(
            "{}: more than {MAX_FOLDER_FILES} files; publish it in parts",
            a.file
        );
    }
    files.sort();
    let mut client = RegistryClient::new(connect(dir, &a.out).await?);
    let bar = crate::cli::progress::bar(files.len() as u64, "files");
    let mut results = Vec::with_capacity(files.len());
    let mut failed = 0usize;
    for path in &files {
        let shown = path.display().to_string();
        bar.set_message(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let outcome = async {
            let format = format_of(&shown, a.format.as_deref())?;
            let text = read_doc(&shown)?;
            let req = with_token(
                dir,
                &a.out,
                v1::PublishRequest {
                    name: String::new(),
                    content: Some(v1::publish_request::Content::Document(v1::Document {
                        format: match format {
                            Format::Toml => "toml",
                            Format::Yaml => "yaml",
                            Format::Json => "json",
                        }
                        .into(),
                        text,
                    })),
                },
            )?;
            let r = client
                .publish(req)
                .await
                .map_err(|s| anyhow!("{}", status_line(&s)))?;
            anyhow::Ok(r.into_inner())
        }
        .await;
        bar.inc(1);
        match outcome {
            Ok(r) => results.push((shown, Ok(r))),
            Err(e) => {
                failed += 1;
                results.push((shown, Err(format!("{e:#}"))));
            }
        }
    }
    bar.finish_and_clear();
    if a.out.json {
        let items: Vec<_> = results
            .iter()
            .map(|(file, r)| match r {
                Ok(w) => json!({
                    "file": file, "ok": true, "outcome": v1::Outcome::try_from(w.outcome).map(|o| o.as_str_name()).unwrap_or("OUTCOME_UNSPECIFIED"),
                    "name": w.manifest.as_ref().and_then(|m| m.body.as_ref()).map(|b| b.name.clone()),
                    "version": w.manifest.as_ref().and_then(|m| m.body.as_ref()).map(|b| b.version),
                    "id": w.manifest.as_ref().map(|m| m.id.clone()),
                }),
                Err(e) => json!({ "file": file, "ok": false, "error": e }),
            })
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({ "files": items, "failed": failed }))?
        );
    } else {
        for (file, r) in &results {
            match r {
                Ok(w) => {
                    let b = w.manifest.as_ref().and_then(|m| m.body.as_ref());
                    let what = match v1::Outcome::try_from(w.outcome) {
                        Ok(v1::Outcome::Stored) => "published",
                        Ok(v1::Outcome::Unchanged) => "unchanged",
                        Ok(v1::Outcome::Duplicate) => "already stored",
                        _ => "done",
                    };
                    out!(
                        "{what:<15} {} v{}  ({file})",
                        b.map_or("", |b| b.name.as_str()),
                        b.map_or(0, |b| b.version)
                    );
                }
                Err(e) => out!("{:<15} {file}: {e}", "FAILED"),
            }
        }
        out!();
        out!(
            "{} of {} files published or unchanged.",
            results.len() - failed,
            results.len()
        );
    }
    if failed > 0 {
        bail!(
            "{failed} of {} files failed (see above); correct them and publish the folder again",
            results.len()
        );
    }
    Ok(())
}

/// `lgmesh retract`.
pub async fn retract(dir: &DataDir, a: RetractArgs) -> Result<()> {
    let req = with_token(
        dir,
        &a.out,
        v1::RetractRequest {
            name: a.name,
            reason: a.reason,
        },
    )?;
    let mut client = RegistryClient::new(connect(dir, &a.out).await?);
    let r = client.retract(req).await?.into_inner();
    print_write(r, a.out.json)
}

/// `lgmesh search`.
pub async fn search(dir: &DataDir, a: SearchArgs) -> Result<()> {
    let mut client = RegistryClient::new(connect(dir, &a.out).await?);
    let r = client
        .search(v1::SearchRequest {
            text: a.text.join(" "),
            kind: a.filter.kind.unwrap_or_default(),
            lgsl: a.filter.lgsl.unwrap_or(0),
            area: a.filter.area.unwrap_or_default(),
            org: a.filter.org.unwrap_or_default(),
            status: a.filter.status.unwrap_or_default(),
            standard: a.filter.standard.unwrap_or_default(),
            answers: answers_filter(dir, &a.out, a.filter.answers).await?,
            page_size: a.limit,
            cursor: a.cursor.unwrap_or_default(),
            include_retracted: a.include_retracted,
            verified_only: a.filter.verified_only,
            include_expired: a.include_expired,
        })
        .await?
        .into_inner();
    if a.out.json {
        let hits: Vec<_> = r
            .hits
            .iter()
            .filter_map(|h| {
                h.manifest.as_ref().map(|m| {
                    let mut v = view::manifest_json(m);
                    v["score"] = json!(h.score);
                    v
                })
            })
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "total": r.total, "nextCursor": r.next_cursor, "hits": hits })
            )?
        );
        return Ok(());
    }
    if r.hits.is_empty() {
        out!("No results.");
        return Ok(());
    }
    for h in &r.hits {
        let Some(m) = &h.manifest else { continue };
        let b = m.body.clone().unwrap_or_default();
        let org = if m.org_name.is_empty() {
            m.publisher.clone()
        } else {
            m.org_name.clone()
        };
        out!("{}{}", view::title(&b), view::flags(m));
        out!(
            "  {} · {} · {}/{} v{}{}",
            m.kind,
            org,
            m.publisher,
            b.name,
            b.version,
            used_by(m)
        );
    }
    out!();
    out_part!("{} of {} result(s).", r.hits.len(), r.total);
    if !r.next_cursor.is_empty() {
        out_part!(" More: --cursor {}", r.next_cursor);
    }
    out!();
    Ok(())
}

/// ` · used by 2 verified organisations` when anyone says they use it.
fn used_by(m: &v1::Manifest) -> String {
    if m.adopters.is_empty() {
        return String::new();
    }
    format!(
        " · used by {} verified organisation(s){}",
        m.verified_adopters,
        match m.adopters.len() as u32 - m.verified_adopters {
            0 => String::new(),
            n => format!(" and {n} unverified"),
        }
    )
}

/// `lgmesh show`.
pub async fn show(dir: &DataDir, a: ShowArgs) -> Result<()> {
    let mut client = RegistryClient::new(connect(dir, &a.out).await?);
    let m = match target(&a.what) {
        Target::Id(id) => client.get(v1::GetRequest { id }).await?.into_inner(),
        Target::Name { publisher, name } => client
            .resolve(v1::ResolveRequest { publisher, name })
            .await?
            .into_inner(),
    };
    if a.out.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&view::manifest_json(&m))?
        );
    } else {
        out_part!("{}", view::manifest_text(&m));
    }
    Ok(())
}

/// `lgmesh history`.
pub async fn history(dir: &DataDir, a: ShowArgs) -> Result<()> {
    let (publisher, name) = match target(&a.what) {
        Target::Name { publisher, name } => (publisher, name),
        Target::Id(_) => bail!("history takes NAME or PUBLISHER/NAME, not an id"),
    };
    let mut client = RegistryClient::new(connect(dir, &a.out).await?);
    // Every page, newest first.
    let mut manifests = vec![];
    let mut before_version = 0;
    loop {
        let r = client
            .history(v1::HistoryRequest {
                publisher: publisher.clone(),
                name: name.clone(),
                page_size: 0,
                before_version,
            })
            .await?
            .into_inner();
        manifests.extend(r.manifests);
        let next = r.next_before_version;
        // Each page must move on (a node that says otherwise is not followed round).
        if next == 0 || (before_version != 0 && next >= before_version) {
            break;
        }
        before_version = next;
    }
    if a.out.json {
        let items: Vec<_> = manifests.iter().map(view::manifest_json).collect();
        out!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    for m in &manifests {
        let b = m.body.clone().unwrap_or_default();
        out!(
            "v{:<4} {}  {}  {}{}",
            b.version,
            view::rfc3339(b.issued_at_ms),
            m.id,
            view::title(&b),
            view::flags(m)
        );
    }
    Ok(())
}

/// The `answers` filter as the API takes it: "mine" is this node's publisher key.
async fn answers_filter(
    dir: &DataDir,
    o: &crate::cli::args::OutputArgs,
    a: Option<String>,
) -> Result<String> {
    match a.as_deref().map(str::trim) {
        None => Ok(String::new()),
        Some("mine") => {
            let mut node = lgmesh_proto::v1::node_client::NodeClient::new(connect(dir, o).await?);
            let info = node.info(v1::InfoRequest {}).await?.into_inner();
            if info.publisher.is_empty() {
                bail!(
                    "answers: this node publishes nothing (an observer), so it has no needs; name a need as did:key:…/name"
                );
            }
            Ok(info.publisher)
        }
        Some(s) => Ok(s.to_owned()),
    }
}

/// `lgmesh watch`.
pub async fn watch(dir: &DataDir, a: WatchArgs) -> Result<()> {
    let mut client = RegistryClient::new(connect(dir, &a.out).await?);
    let mut stream = client
        .watch(v1::WatchRequest {
            text: a.text.join(" "),
            kind: a.filter.kind.unwrap_or_default(),
            lgsl: a.filter.lgsl.unwrap_or(0),
            area: a.filter.area.unwrap_or_default(),
            org: a.filter.org.unwrap_or_default(),
            status: a.filter.status.unwrap_or_default(),
            standard: a.filter.standard.unwrap_or_default(),
            answers: answers_filter(dir, &a.out, a.filter.answers).await?,
            include_retracted: a.include_retracted,
            verified_only: a.filter.verified_only,
        })
        .await?
        .into_inner();
    if !a.out.json {
        eprintln!("Watching for new manifests; Ctrl-C to stop.");
    }
    while let Some(m) = stream.message().await? {
        if a.out.json {
            out!("{}", serde_json::to_string(&view::manifest_json(&m))?);
        } else {
            let b = m.body.clone().unwrap_or_default();
            let org = if m.org_name.is_empty() {
                m.publisher.clone()
            } else {
                m.org_name.clone()
            };
            out!("{}{}", view::title(&b), view::flags(&m));
            out!(
                "  {} · {} · {}/{} v{}",
                m.kind,
                org,
                m.publisher,
                b.name,
                b.version
            );
        }
    }
    Ok(())
}

/// `lgmesh adopt`.
pub async fn adopt(dir: &DataDir, a: AdoptArgs) -> Result<()> {
    let (publisher, name) = match target(&a.service) {
        Target::Name { publisher, name } if !publisher.is_empty() => (publisher, name),
        _ => bail!("service: give it as PUBLISHER/NAME, e.g. did:key:z6Mk…/address-lookup"),
    };
    let publisher = key_arg("service", &publisher)?;
    let mut answers = vec![];
    for (i, need) in a.answers.iter().enumerate() {
        let (did, name) = need
            .split_once('/')
            .filter(|(_, n)| lgmesh_protocol::identity::is_slug(n))
            .ok_or_else(|| {
                anyhow!("answers[{i}]: give a need as did:key:z6Mk…/name, got {need:?}")
            })?;
        answers.push(v1::NeedRef {
            publisher: key_arg(&format!("answers[{i}]"), did)?.as_bytes().to_vec(),
            name: name.to_owned(),
        });
    }
    let content = v1::publish_request::Content::Adoption(v1::Adoption {
        publisher: publisher.as_bytes().to_vec(),
        name,
        version: a.version.unwrap_or(0),
        note: a.note,
        answers,
    });
    publish_content(dir, &a.out, String::new(), content).await
}

/// `lgmesh need`.
pub async fn need(dir: &DataDir, a: NeedArgs) -> Result<()> {
    let title = a.title.join(" ");
    if title.trim().is_empty() {
        bail!(
            "title: say what is needed, e.g. lgmesh need --lgsl 863 \"Bulky waste collection booking\""
        );
    }
    let content = v1::publish_request::Content::Need(v1::Need {
        title,
        description: a.description,
        lgsl: a.lgsl,
        coverage: a.area,
        contact: None,
    });
    publish_content(dir, &a.out, a.name.unwrap_or_default(), content).await
}
