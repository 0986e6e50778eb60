//! The observatory on a real node: every page, its errors, its escaping, its CSV
//! downloads and its live updates over Server-Sent Events; then, in headless Chromium,
//! every page checked with axe-core (WCAG 2.2 AA), on a phone and with JavaScript off.
//!
//! The browser part needs Node.js, Chromium and the packages in `node/tests/web/`
//! (`npm ci`); `.ci/run` installs them. Where they are missing the test says that it
//! skipped that part; where `LGMESH_REQUIRE_BROWSER` is set (`.ci/run` sets it), it
//! fails instead.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `GET path`: (status line, headers, body).
fn get(node: &Node, path: &str) -> (String, String, String) {
    node.http_get_full(path)
}

fn page(node: &Node, path: &str) -> String {
    let (status, headers, body) = get(node, path);
    assert!(status.contains(" 200 "), "{path}: {status}\n{body}");
    assert!(
        headers.contains("content-security-policy: default-src 'none'"),
        "{path}: {headers}"
    );
    body
}

/// A manifest file like Guildford's bin service, with `title` and `name`.
fn hostile(dir: &Path, name: &str, title: &str) -> PathBuf {
    let text = std::fs::read_to_string(examples().join("manifests/guildford-bin-collection.toml"))
        .expect("example")
        .replace(
            "name = \"bin-collection-days\"",
            &format!("name = \"{name}\""),
        )
        .replace(
            "title = \"Bin collection days\"",
            &format!("title = {title:?}"),
        );
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).expect("write");
    file
}

/// Publishes the examples and one manifest whose title is hostile HTML and a formula;
/// returns the node and the data dir.
fn federation() -> (tempfile::TempDir, PathBuf, Node) {
    let tmp = init_guildford();
    let dir = tmp.path().join("node");
    let node = Node::start(&dir);
    for f in ["guildford-bin-collection.toml", "camden-waste-rounds.toml"] {
        ok(
            &dir,
            &[
                "publish",
                examples().join("manifests").join(f).to_str().expect("path"),
            ],
        );
    }
    let evil = hostile(
        tmp.path(),
        "evil",
        "=HYPERLINK(\"http://x\") <script>alert(1)</script>",
    );
    ok(&dir, &["publish", evil.to_str().expect("path")]);
    // Reuse and needs (an organisation may adopt its own service: the page shows it).
    let key = json(&ok(&dir, &["info", "--json"]))["publisher"]
        .as_str()
        .expect("publisher")
        .to_owned();
    ok(&dir, &["adopt", &format!("{key}/waste-collection-rounds")]);
    ok(
        &dir,
        &["need", "--lgsl", "863", "Bulky waste collection booking"],
    );
    // The summary follows the store within a few seconds.
    until("the summary to hold the three manifests", || {
        let (_, _, body) = get(&node, "/organisations.csv");
        body.contains("gss:E07000209,Guildford Borough Council,District council,verified,2,1,1,1,")
            .then_some(())
            .filter(|()| {
                get(&node, "/coverage.csv")
                    .2
                    .contains("524,Household waste collection,1,0,")
            })
    });
    (tmp, dir, node)
}

#[test]
fn every_page_answers_escapes_what_publishers_wrote_and_updates_live() {
    let (tmp, dir, node) = federation();
    for path in [
        "/",
        "/catalogue",
        "/organisations",
        "/coverage",
        "/coverage?all=1",
        "/reuse",
        "/anomalies",
    ] {
        let body = page(&node, path);
        assert!(body.starts_with("<!DOCTYPE html>"), "{path}");
        assert!(body.contains("lang=\"en-GB\""), "{path}");
    }
    // What a publisher wrote is shown, escaped.
    let found = page(&node, "/catalogue?q=hyperlink");
    assert!(
        found.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{found}"
    );
    assert!(!found.contains("<script>alert"), "{found}");
    // Every CLI filter, including the standard a dataset conforms to.
    let std = page(
        &node,
        "/catalogue?standard=https%3A%2F%2Fwww.openreferraluk.org&kind=dataset",
    );
    assert!(
        std.contains("Waste and recycling collection rounds"),
        "{std}"
    );
    assert!(!std.contains("Bin collection days"), "{std}");
    let lgsl = page(
        &node,
        "/catalogue?lgsl=524&area=E07000209&verified=1&status=LIVE",
    );
    assert!(lgsl.contains("Bin collection days"), "{lgsl}");
    // Bad filters are refused with the field and the reason, and the form kept.
    for (path, says) in [
        ("/catalogue?lgsl=abc", "LGSL code: enter a number"),
        (
            "/catalogue?area=zz",
            "area: &quot;ZZ&quot; is not a GSS code",
        ),
        (
            "/catalogue?kind=bogus",
            "kind: &quot;bogus&quot; is not one of",
        ),
        ("/catalogue?cursor=nope", "cursor:"),
        ("/catalogue?q=%ff", "not UTF-8"),
    ] {
        let (status, _, body) = get(&node, path);
        assert!(status.contains(" 400 "), "{path}: {status}");
        assert!(body.contains(says), "{path}: {body}");
    }
    // A manifest's page: its fields, its trust, its versions.
    let id = until("the manifest's id", || {
        let b = page(&node, "/catalogue?q=bin+collection");
        b.split("/manifests/").nth(1).map(|s| s[..64].to_owned())
    });
    let m = page(&node, &format!("/manifests/{id}"));
    for says in [
        "Bin collection days",
        "Household waste collection",
        "endpointURL",
        "Versions held",
    ] {
        assert!(m.contains(says), "{says}: {m}");
    }
    let key = json(&ok(&dir, &["info", "--json"]))["publisher"]
        .as_str()
        .expect("publisher")
        .to_owned();
    let org = page(&node, &format!("/organisations/{key}"));
    assert!(
        org.contains("gss:E07000209") && org.contains("Bin collection days"),
        "{org}"
    );
    for (path, status) in [
        ("/manifests/zz", " 400 "),
        (&*format!("/manifests/{}", "0".repeat(64)), " 404 "),
        ("/organisations/not-a-key", " 400 "),
        ("/nothing-here", " 404 "),
    ] {
        let (got, headers, _) = get(&node, path);
        assert!(got.contains(status), "{path}: {got}");
        assert!(headers.contains("content-security-policy"), "{path}");
    }
    // CSV: quoted, and a title that a spreadsheet would run is defused.
    let (_, headers, csv) = get(&node, "/catalogue.csv?q=hyperlink");
    assert!(headers.contains("content-type: text/csv"), "{headers}");
    assert!(csv.contains("\"'=HYPERLINK(\"\"http://x\"\")"), "{csv}");
    // Every table on every page downloads as CSV from the page's own address.
    let (_, headers, kinds) = get(&node, "/?csv=kinds");
    assert!(headers.contains("content-type: text/csv"), "{headers}");
    assert!(
        kinds.starts_with("Kind,Live\r\n") && kinds.contains("service,"),
        "{kinds}"
    );
    let (_, _, needs) = get(&node, "/reuse?csv=needs");
    assert!(needs.contains("Bulky waste collection booking"), "{needs}");
    let (status, _, _) = get(&node, "/anomalies?csv=nothing");
    assert!(status.contains(" 404 "), "{status}");
    assert!(page(&node, "/anomalies").contains("?csv=equivocations"));
    let coverage = get(&node, "/coverage.csv").2;
    assert_eq!(
        coverage.lines().count(),
        1521,
        "a row per LGSL service and a header"
    );
    assert!(page(&node, "/").contains("Live manifests, day by day"));
    assert!(
        std::fs::read_to_string(dir.join("observatory.csv"))
            .expect("the growth history is kept")
            .starts_with("day,live,orgs\n")
    );

    // Live: a browser listening to /events hears of the next change.
    let mut s = std::net::TcpStream::connect(&node.http).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    )
    .expect("write");
    let mut lines = BufReader::new(s.try_clone().expect("clone")).lines();
    let mut saw = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match lines.next() {
                Some(Ok(l)) if l.contains(what) => return,
                Some(Ok(_)) => {}
                _ => break,
            }
        }
        panic!("no {what:?} on /events");
    };
    saw("retry:");
    let more = hostile(tmp.path(), "more", "Garden waste subscriptions");
    ok(&dir, &["publish", more.to_str().expect("path")]);
    saw("event: update");
    drop(node);
}

/// The page paths the browser checks: every page, a manifest's, an organisation's, and
/// the error pages with their statuses.
fn browser_paths(node: &Node, dir: &Path) -> Vec<String> {
    let id = page(node, "/catalogue?q=bin+collection")
        .split("/manifests/")
        .nth(1)
        .map(|s| s[..64].to_owned())
        .expect("a manifest link");
    let key = json(&ok(dir, &["info", "--json"]))["publisher"]
        .as_str()
        .expect("publisher")
        .to_owned();
    let mut paths: Vec<String> = [
        "/",
        "/catalogue",
        "/catalogue?q=waste&kind=dataset&verified=1",
        "/organisations",
        "/coverage",
        "/coverage?all=1",
        "/reuse",
        "/anomalies",
        "/catalogue?lgsl=abc@400",
        "/nothing-here@404",
    ]
    .map(String::from)
    .into();
    paths.push(format!("/manifests/{id}"));
    paths.push(format!("/organisations/{key}"));
    paths
}

#[test]
fn every_page_meets_wcag_2_2_aa_in_chromium_on_a_phone_and_without_javascript() {
    let harness = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web");
    let required = std::env::var_os("LGMESH_REQUIRE_BROWSER").is_some();
    let chromium = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let node_js = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let packages = harness.join("node_modules/playwright-core").exists()
        && harness.join("node_modules/axe-core").exists();
    let (Some(chromium), true, true) = (chromium, node_js, packages) else {
        let missing = format!(
            "chromium {}, node {}, npm packages {}",
            if chromium.is_some() {
                "found"
            } else {
                "missing"
            },
            if node_js { "found" } else { "missing" },
            if packages {
                "found"
            } else {
                "missing (npm ci in node/tests/web)"
            },
        );
        assert!(!required, "the browser test cannot run: {missing}");
        eprintln!("SKIPPED: the browser (axe-core) checks of the web pages: {missing}");
        return;
    };
    let (tmp, dir, node) = federation();
    let paths = browser_paths(&node, &dir);
    let mut child = Command::new("node")
        .arg(harness.join("axe.mjs"))
        .arg(format!("http://{}", node.http))
        .args(&paths)
        .env("CHROMIUM", chromium)
        .env("LIVE_CHECK_PATH", "/")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run the browser checks");
    let out = child.stdout.take().expect("stdout");
    let mut report = String::new();
    for line in BufReader::new(out).lines().map_while(Result::ok) {
        println!("{line}");
        if line.trim() == "READY-FOR-LIVE" {
            let f = hostile(tmp.path(), "live", "Clinical waste collection");
            ok(&dir, &["publish", f.to_str().expect("path")]);
        }
        report.push_str(&line);
        report.push('\n');
    }
    let status = child.wait().expect("wait");
    assert!(status.success(), "the browser checks failed:\n{report}");
    assert!(
        report.contains(&format!("web: {} passed, 0 failed", paths.len() + 1)),
        "{report}"
    );
}
