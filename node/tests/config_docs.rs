//! Each setting is described once, in the doc comment on its field (`node/src/config.rs`,
//! `node/src/config/`): the commented `lgmesh.toml` that `init` writes and
//! `ops/config-reference.md` are both made from those comments. These tests keep the
//! committed reference current and the template faithful to the config.

use std::path::PathBuf;

use clap::CommandFactory;
use lgmesh::config::{Config, docs};

/// The command that rewrites `ops/config-reference.md`.
const BLESS: &str = "LGMESH_BLESS=1 cargo test -p lgmesh --test config_docs";

fn reference() -> String {
    let cli = lgmesh::cli::Cli::command();
    let run = cli.find_subcommand("run").expect("lgmesh run");
    docs::reference(run).expect("the reference renders")
}

fn reference_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ops/config-reference.md")
}

#[test]
fn the_configuration_reference_is_current() {
    let want = reference();
    let path = reference_path();
    if std::env::var_os("LGMESH_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write ops/config-reference.md");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let (n, (h, w)) = have
            .lines()
            .chain(std::iter::repeat(""))
            .zip(want.lines().chain(std::iter::repeat("")))
            .enumerate()
            .find(|(_, (h, w))| h != w)
            .expect("the texts differ somewhere");
        panic!(
            "ops/config-reference.md is not what the doc comments in node/src/config.rs and \
             node/src/config/ say.\nFirst difference, line {}:\n  committed: {h}\n  from the \
             comments: {w}\nRegenerate it with:\n\n    {BLESS}\n",
            n + 1
        );
    }
}

#[test]
fn the_template_parses_back_to_the_config_it_was_written_from() {
    let default = Config::default();
    let text = docs::template(&default).expect("renders");
    let back: Config = toml::from_str(&text).expect("the template parses");
    assert_eq!(back, default);

    // Every kind of value, away from its default: strings that need quoting, lists,
    // booleans, fractions.
    let mut c = Config::default();
    c.org.id = "gss:E07000209".into();
    c.org.name = "Guildford \"Borough\" Council\\".into();
    c.org.org_type = "district".into();
    c.org.website = "https://www.guildford.gov.uk".into();
    c.org.development = true;
    c.grpc.addr = "0.0.0.0:0".into();
    c.grpc.allow_remote = true;
    c.network.bootstrap = vec![
        "/ip4/192.0.2.7/tcp/4001/p2p/12D3KooWKintN5smh8XsXqB1fk1ron2JNQHekFmQUpgrWydFKky9".into(),
    ];
    c.network.listen = vec![];
    c.network.sync_requests_per_sec = 2.5;
    c.network.gossip_per_peer_per_sec = 1e-3;
    c.trust.domain_suffixes = vec![];
    c.trust.official_domains = vec!["gss:E04012345=exampleparish.gov.uk".into()];
    c.trust.endorsements_required = 7;
    let back: Config = toml::from_str(&docs::template(&c).expect("renders")).expect("parses");
    assert_eq!(back, c);
}

#[test]
fn every_key_is_explained_and_written() {
    use docs::Documented;
    let text = docs::template(&Config::default()).expect("renders");
    for section in Config::FIELDS {
        assert!(!section.doc.concat().trim().is_empty(), "[{}]", section.key);
        for key in section.fields {
            assert!(
                !key.doc.concat().trim().is_empty(),
                "{}.{} has no doc comment",
                section.key,
                key.key
            );
            // Tests and operators edit the file by key (`common::set_config`), so
            // each key is on a line of its own, not commented out.
            let prefix = format!("{} = ", key.key);
            assert!(
                text.lines().any(|l| l.starts_with(&prefix)),
                "no line for {}.{} in the template",
                section.key,
                key.key
            );
        }
    }
}

#[test]
fn manual_pages_and_completions_come_from_the_clap_definition() {
    let bin = env!("CARGO_BIN_EXE_lgmesh");
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(bin)
        .args(["man", "--out"])
        .arg(tmp.path())
        .output()
        .expect("run lgmesh man");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One page per command, each naming its flags.
    let cli = lgmesh::cli::Cli::command();
    for sub in cli.get_subcommands() {
        let page = tmp.path().join(format!("lgmesh-{}.1", sub.get_name()));
        let text =
            std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
        for arg in sub.get_arguments().filter_map(|a| a.get_long()) {
            let roff = arg.replace('-', "\\-");
            assert!(text.contains(&roff), "{} lacks --{arg}", page.display());
        }
    }
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = std::process::Command::new(bin)
            .args(["completions", shell])
            .output()
            .expect("run lgmesh completions");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && script.contains("tls-cert"),
            "{shell}: {script}"
        );
    }
    let out = std::process::Command::new(bin)
        .args(["completions", "tcsh"])
        .output()
        .expect("run lgmesh completions");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bash"));
}

#[test]
fn every_command_that_prints_a_result_takes_json() {
    // `run` and `demo` run until stopped (their logs: --log-json); `completions` and
    // `man` print a script and roff.
    let exempt = ["run", "demo", "completions", "man"];
    fn walk(cmd: &clap::Command, path: String, exempt: &[&str], missing: &mut Vec<String>) {
        if cmd.has_subcommands() {
            for sub in cmd.get_subcommands() {
                if !exempt.contains(&sub.get_name()) {
                    walk(sub, format!("{path} {}", sub.get_name()), exempt, missing);
                }
            }
        } else if !cmd.get_arguments().any(|a| a.get_long() == Some("json")) {
            missing.push(path);
        }
    }
    let mut missing = vec![];
    walk(
        &lgmesh::cli::Cli::command(),
        "lgmesh".into(),
        &exempt,
        &mut missing,
    );
    assert!(missing.is_empty(), "without --json: {missing:?}");

    let bin = env!("CARGO_BIN_EXE_lgmesh");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("node");
    let out = std::process::Command::new(bin)
        .args([
            "init",
            "--org",
            "gss:E07000209",
            "--name",
            "Guildford Borough Council",
        ])
        .args([
            "--website",
            "https://www.guildford.gov.uk",
            "--json",
            "--data-dir",
        ])
        .arg(&dir)
        .output()
        .expect("run lgmesh init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["orgId"], "gss:E07000209");
    assert!(
        v["publisher"]
            .as_str()
            .is_some_and(|p| p.starts_with("did:key:z6Mk"))
    );
    assert_eq!(
        v["wellKnown"]["url"],
        "https://www.guildford.gov.uk/.well-known/lgmesh.json"
    );
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/manifests/leeds-address-lookup.toml");
    let out = std::process::Command::new(bin)
        .arg("check")
        .arg(&manifest)
        .args(["--json", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("run lgmesh check");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["valid"], true, "{v}");
}
