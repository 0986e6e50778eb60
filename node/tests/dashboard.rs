//! The Grafana dashboard (`ops/grafana-lgmesh.json`) and the alert rules
//! (`ops/lgmesh-alerts.yml`) ask only for metrics a node really serves: every metric
//! name in every query is looked up in the live `/metrics` of two real nodes, one
//! gossiping to the other. A name the node does not serve (a typo, a family renamed)
//! fails the test, which names it and the panel or rule that uses it.
//!
//! Also: the dashboard imports into Grafana 10+ with the Prometheus data source as an
//! input (`${DS_PROMETHEUS}`), and every alert rule has a `promtool test rules` case in
//! `ops/lgmesh-alerts.test.yml` where it fires and one where it does not.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;
use serde_json::Value;

/// Names a query may use that the test nodes do not serve, each with the reason.
/// Keep it short: every other name must be in a live scrape.
const NOT_SERVED_HERE: &[(&str, &str)] = &[
    // Made by Prometheus for each target it scrapes, not served by the node.
    ("up", "made by Prometheus for each scrape target"),
    // Served only when the node has a TLS certificate to serve, which these test nodes
    // (loopback, no TLS) do not.
    (
        "lgmesh_tls_certificate_expiry_seconds",
        "present only when TLS is configured",
    ),
];

fn ops() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops")
}

// ---------------------------------------------------------------------------------------
// Metric names in PromQL.

/// PromQL's aggregation operators, keywords and literals: words that are not metrics
/// even where no `(` follows them (`sum by (job) (…)`, `a and b`, `offset 5m`).
const KEYWORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "and",
    "or",
    "unless",
    "atan2",
    "bool",
    "offset",
    "start",
    "end",
    "inf",
    "nan",
];

/// Keywords followed by a list of label names in parentheses.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names in a PromQL expression (which may hold Grafana's `$variables`): every
/// identifier that is not a function (followed by `(`), a keyword, a label name (in
/// `{…}` or after `by`, `on`, …), or inside a string, a range or a variable.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let c: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    // Skips from an opening bracket `c[i]` to past its match, passing over strings.
    let skip_group = |mut i: usize, open: char, close: char| -> usize {
        let mut depth = 0;
        while i < c.len() {
            match c[i] {
                q @ ('"' | '\'' | '`') => i = skip_string(&c, i, q) - 1,
                x if x == open => depth += 1,
                x if x == close => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        i
    };
    while i < c.len() {
        match c[i] {
            q @ ('"' | '\'' | '`') => i = skip_string(&c, i, q),
            // Label matchers, and ranges and subqueries (`[5m]`, `[$__rate_interval]`).
            '{' => i = skip_group(i, '{', '}'),
            '[' => i = skip_group(i, '[', ']'),
            // A Grafana variable: `$job`, `${job}`, `$__interval`.
            '$' => {
                i += 1;
                if c.get(i) == Some(&'{') {
                    i = skip_group(i, '{', '}');
                } else {
                    while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                        i += 1;
                    }
                }
            }
            // A number or a duration: `0.95`, `1e-9`, `86400`, `5m`.
            x if x.is_ascii_digit()
                || (x == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                i += 1;
                while i < c.len()
                    && (c[i].is_alphanumeric()
                        || c[i] == '.'
                        || (matches!(c[i], '+' | '-') && matches!(c[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
            }
            x if x.is_alphabetic() || x == '_' || x == ':' => {
                let start = i;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == ':') {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                let mut next = i;
                while next < c.len() && c[next].is_whitespace() {
                    next += 1;
                }
                let paren = c.get(next) == Some(&'(');
                if LABEL_LISTS.contains(&word.as_str()) {
                    if paren {
                        i = skip_group(next, '(', ')');
                    }
                } else if !paren && !KEYWORDS.contains(&word.as_str()) {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// From the quote `c[i]` to past its closing quote (backslash escapes, but not in
/// backquoted raw strings).
fn skip_string(c: &[char], mut i: usize, quote: char) -> usize {
    i += 1;
    while i < c.len() && c[i] != quote {
        if c[i] == '\\' && quote != '`' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// The PromQL in a Grafana Prometheus variable query: `label_values(METRIC, label)` and
/// `query_result(QUERY)` hold one; `label_values(label)`, `label_names()` and
/// `metrics(regex)` hold none.
fn variable_expr(q: &str) -> Option<String> {
    let q = q.trim();
    if let Some(args) = q
        .strip_prefix("query_result(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return Some(args.to_owned());
    }
    let args = q
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))?;
    // The metric selector is what comes before the last top-level comma.
    let mut depth = 0i32;
    let mut split = None;
    for (at, ch) in args.char_indices() {
        match ch {
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => depth -= 1,
            ',' if depth == 0 => split = Some(at),
            _ => {}
        }
    }
    split.map(|at| args[..at].to_owned())
}

/// What a `/metrics` exposition serves: the name of every sample line, and every family
/// with its type.
#[derive(Default)]
struct Served {
    samples: BTreeSet<String>,
    families: BTreeMap<String, String>,
}

impl Served {
    fn add(&mut self, text: &str) {
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut w = rest.split_whitespace();
                if let (Some(name), Some(kind)) = (w.next(), w.next()) {
                    self.families.insert(name.to_owned(), kind.to_owned());
                }
            } else if !line.starts_with('#') && !line.is_empty() {
                let end = line.find(['{', ' ']).unwrap_or(line.len());
                self.samples.insert(line[..end].to_owned());
            }
        }
    }

    /// Whether a query can select `name`: a sample name served, or a histogram's
    /// `_bucket`, `_sum` or `_count` (a summary's `_sum` or `_count`) whose family is
    /// served as one. A gauge's `_sum` is not a metric.
    fn serves(&self, name: &str) -> bool {
        if self.samples.contains(name) {
            return true;
        }
        ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix).is_some_and(|family| {
                match self.families.get(family).map(String::as_str) {
                    Some("histogram") => true,
                    Some("summary") => *suffix != "_bucket",
                    _ => false,
                }
            })
        })
    }
}

#[test]
fn the_query_parser_finds_metric_names_and_nothing_else() {
    let names = |e: &str| metric_names(e).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            r#"sum by (instance, reason) (rate(lgmesh_net_refused_total{job=~"$job", reason!="busy"}[$__rate_interval])) > 0"#
        ),
        ["lgmesh_net_refused_total"]
    );
    assert_eq!(
        names(
            "histogram_quantile(0.95, sum without (le) (rate(libp2p_ping_rtt_seconds_bucket[5m] offset 1h)))"
        ),
        ["libp2p_ping_rtt_seconds_bucket"]
    );
    assert_eq!(
        names(
            "rate(a_total[10m]) / clamp_min(rate(b_total[10m]), 1e-9) > 0.5 and ignoring (result) c == 0 or on(x) group_left(y) d unless e"
        ),
        ["a_total", "b_total", "c", "d", "e"]
    );
    assert_eq!(
        names(
            r#"scalar(max(h{job=~"$job"})) - h{a="}{[", b='\'x'} + count_values("version", i) + topk(3, j)[1h:5m]"#
        ),
        ["h", "i", "j"]
    );
    assert_eq!(
        names("lgmesh:recorded:rate5m - time() + ${var} + $__range_s * 86400"),
        ["lgmesh:recorded:rate5m"]
    );
    assert_eq!(
        variable_expr(r#"label_values(lgmesh_build_info{job=~"$job"}, instance)"#).as_deref(),
        Some(r#"lgmesh_build_info{job=~"$job"}"#)
    );
    assert_eq!(variable_expr("label_values(instance)"), None);

    let mut served = Served::default();
    served.add(
        "# TYPE h_seconds histogram\nh_seconds_bucket{le=\"1\"} 0\nh_seconds_sum 0\nh_seconds_count 0\n\
         # TYPE g gauge\ng 1\n# TYPE c_total counter\nc_total 2\n",
    );
    for ok in [
        "h_seconds_bucket",
        "h_seconds_sum",
        "h_seconds_count",
        "g",
        "c_total",
    ] {
        assert!(served.serves(ok), "{ok}");
    }
    for unknown in ["h_seconds", "g_sum", "g_count", "c", "c_total_count", "x"] {
        assert!(!served.serves(unknown), "{unknown}");
    }
}

// ---------------------------------------------------------------------------------------
// The dashboard.

fn dashboard() -> Value {
    let path = ops().join("grafana-lgmesh.json");
    let text = std::fs::read_to_string(&path).expect("read the dashboard");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every PromQL query of the dashboard, with where it is: `(panel title / refId, expr)`,
/// and the variables' queries.
fn dashboard_queries(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        let rows = p["panels"].as_array().into_iter().flatten();
        for p in std::iter::once(p).chain(rows) {
            let title = p["title"].as_str().unwrap_or("?");
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"].as_str().unwrap_or_default();
                let at = format!("panel {title:?} {}", t["refId"].as_str().unwrap_or("?"));
                out.push((at, expr.to_owned()));
            }
        }
    }
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        let q = v["query"]["query"]
            .as_str()
            .or_else(|| v["query"].as_str())
            .unwrap_or_default();
        if let Some(expr) = variable_expr(q) {
            out.push((
                format!("variable ${}", v["name"].as_str().unwrap_or("?")),
                expr,
            ));
        }
    }
    out
}

/// Each alert rule's name and expression.
fn alert_rules() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(ops().join("lgmesh-alerts.yml")).expect("read the rules");
    let y: serde_json::Value = serde_norway::from_str(&text).expect("the rules are YAML");
    y["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter())
        .map(|r| {
            (
                r["alert"].as_str().expect("an alert rule").to_owned(),
                r["expr"].as_str().expect("expr").to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_dashboard_imports_with_prometheus_as_an_input() {
    let d = dashboard();
    let input = d["__inputs"]
        .as_array()
        .expect("__inputs")
        .iter()
        .find(|i| i["name"] == "DS_PROMETHEUS")
        .expect("a DS_PROMETHEUS input");
    assert_eq!(input["type"], "datasource");
    assert_eq!(input["pluginId"], "prometheus");
    assert!(d["uid"].is_string() && d["title"].is_string() && d["schemaVersion"].is_u64());
    let grafana = d["__requires"]
        .as_array()
        .expect("__requires")
        .iter()
        .find(|r| r["id"] == "grafana")
        .expect("the Grafana version it needs");
    assert_eq!(grafana["version"], "10.0.0");

    // Every query goes to the data source chosen at import, and no data source of the
    // machine it was made on is left behind.
    let expected = serde_json::json!({"type": "prometheus", "uid": "${DS_PROMETHEUS}"});
    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().expect("panels") {
        let title = p["title"].as_str().expect("every panel has a title");
        assert!(
            ids.insert(p["id"].as_u64().expect("an id")),
            "id of {title:?} repeats"
        );
        assert!(p["gridPos"]["w"].is_u64(), "{title:?} has no place");
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"], expected, "{title:?}");
        assert!(
            p["description"].as_str().is_some_and(|s| !s.is_empty()),
            "{title:?} says what it shows and what to do"
        );
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title:?} has no query");
        for t in targets {
            assert_eq!(t["datasource"], expected, "{title:?}");
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.is_empty()),
                "{title:?}"
            );
        }
    }
    for v in d["templating"]["list"].as_array().expect("variables") {
        assert_eq!(v["datasource"], expected, "{v}");
    }
    let text = d.to_string();
    assert!(
        !text.contains("\"uid\":\"P"),
        "a data source uid of some Grafana is left in"
    );
}

/// Every query of the dashboard is PromQL that Prometheus parses: `promtool check rules`
/// on a recording rule for each, with Grafana's variables given values. Needs promtool
/// as `node/tests/metrics.rs` does: skipped where it is missing, unless
/// `LGMESH_REQUIRE_PROMTOOL` is set (`.ci/run` sets it).
#[test]
fn every_dashboard_query_is_promql_that_prometheus_parses() {
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (at, expr)) in dashboard_queries(&dashboard()).iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "5m")
            .replace("$job", ".*")
            .replace("$instance", ".*");
        // A JSON string is a YAML double-quoted scalar.
        rules += &format!(
            "      # {}\n      - record: dashboard:query{i}\n        expr: {}\n",
            at.replace('\n', " "),
            serde_json::to_string(&expr).expect("a string")
        );
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("dashboard-rules.yml");
    std::fs::write(&file, &rules).expect("write the rules");
    let out = match std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("LGMESH_REQUIRE_PROMTOOL").is_none(),
                "promtool is required (LGMESH_REQUIRE_PROMTOOL is set) but not found"
            );
            // Past the test harness's capture, so that a skip is seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED every_dashboard_query_is_promql_that_prometheus_parses: no promtool (Debian: apt-get install prometheus)"
            );
            return;
        }
        Err(e) => panic!("running promtool: {e}"),
    };
    assert!(
        out.status.success(),
        "promtool check rules on the dashboard's queries:\n{}{}\n{rules}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_alert_rule_has_a_test_that_fires_and_one_that_does_not() {
    let text =
        std::fs::read_to_string(ops().join("lgmesh-alerts.test.yml")).expect("read the tests");
    let y: serde_json::Value = serde_norway::from_str(&text).expect("the tests are YAML");
    let mut fires = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for t in y["tests"].as_array().expect("tests") {
        for case in t["alert_rule_test"].as_array().into_iter().flatten() {
            let name = case["alertname"].as_str().expect("alertname").to_owned();
            let fired = case["exp_alerts"].as_array().is_some_and(|a| !a.is_empty());
            (if fired { &mut fires } else { &mut quiet }).insert(name);
        }
    }
    let rules: BTreeSet<String> = alert_rules().into_iter().map(|(n, _)| n).collect();
    let untested: Vec<_> = rules.difference(&fires).collect();
    let never_quiet: Vec<_> = rules.difference(&quiet).collect();
    let unknown: Vec<_> = fires
        .union(&quiet)
        .filter(|n| !rules.contains(*n))
        .collect();
    assert!(
        untested.is_empty() && never_quiet.is_empty() && unknown.is_empty(),
        "in ops/lgmesh-alerts.test.yml: no case where it fires: {untested:?}; no case \
         where it stays quiet: {never_quiet:?}; tests of no rule: {unknown:?}"
    );
}

#[test]
fn the_dashboard_and_the_alerts_use_only_metrics_a_node_serves() {
    let mut queries = dashboard_queries(&dashboard());
    queries.extend(
        alert_rules()
            .into_iter()
            .map(|(alert, expr)| (format!("alert {alert}"), expr)),
    );
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (at, expr) in &queries {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{at}: no metric in {expr:?}");
        for n in names {
            used.entry(n).or_default().push(at.clone());
        }
    }
    // The allow-list holds only what is used, so that it cannot grow stale.
    for (name, why) in NOT_SERVED_HERE {
        assert!(
            used.contains_key(*name),
            "{name} ({why}) is allowed but no query uses it: take it out of NOT_SERVED_HERE"
        );
    }

    // Two nodes, b gossiping with a: peers, the gossip mesh, a manifest by gossip (the
    // propagation lag exists only after one) and libp2p's families.
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for (dir, org, name) in [
        (&a, "gss:E07000209", "Guildford Borough Council"),
        (&b, "gss:E08000035", "Leeds City Council"),
    ] {
        ok(
            dir,
            &["init", "--org", org, "--name", name, "--type", "district"],
        );
    }
    let na = Node::start(&a);
    let nb = Node::start_with(&b, &["--bootstrap", &listen_addr(&a)]);
    until("b is in a's gossip mesh", || {
        let peers = json(&ok(&a, &["peers", "--json"]));
        peers["peers"]
            .as_array()?
            .iter()
            .any(|p| p["inMesh"] == true)
            .then_some(())
    });
    let file = examples().join("manifests/guildford-bin-collection.toml");
    ok(&a, &["publish", file.to_str().expect("path")]);
    ok(&b, &["search", "bin"]);
    // Families that exist only once something happened: wait for them, then compare
    // once, so that an unknown name fails at once.
    until("b stored a manifest by gossip and timed a ping", || {
        let (_, text) = nb.http_get("/metrics");
        (text.contains("\nlgmesh_propagation_lag_seconds{")
            && text.contains("\nlibp2p_ping_rtt_seconds_bucket{"))
        .then_some(())
    });
    let mut served = Served::default();
    for node in [&na, &nb] {
        served.add(&node.http_get("/metrics").1);
    }

    let unknown: Vec<String> = used
        .iter()
        .filter(|(name, _)| !served.serves(name) && !NOT_SERVED_HERE.iter().any(|(n, _)| n == name))
        .map(|(name, at)| format!("{name} (in {})", at.join(", ")))
        .collect();
    assert!(
        unknown.is_empty(),
        "metrics no node serves at /metrics:\n  {}",
        unknown.join("\n  ")
    );
    drop((na, nb));
}
