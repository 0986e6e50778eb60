//! Fuzz targets for what untrusted peers and files feed lgmesh, and a small mutation
//! fuzzer that runs them on stable Rust.
//!
//! | target | what it feeds | reaches |
//! | --- | --- | --- |
//! | `envelope` | bytes as a gossip message or a `Submit` | size, decode, schema, signature and time checks, then the store's placement |
//! | `sync-request` | bytes as a peer's inbound sync stream | the frame reader, the protobuf decoder, negentropy and the fetch and stream handlers |
//! | `sync-response` | bytes as a peer's answer to this node | the frame reader, the decoder, negentropy's initiator side, manifest checks |
//! | `document` | a TOML, YAML or JSON manifest file (the first byte picks the format) | the parsers and the UK metadata model mapping |
//! | `batch` | bytes as one envelope in a page of valid ones | the batched signature checks of sync and import, which must give every envelope the verdict it gets alone (a difference is a panic) |
//!
//! Each target must return for any input without panicking; a panic is a bug. The
//! fuzzer ([`run`]) has no coverage feedback: it mutates a corpus of valid inputs
//! (bit flips, byte edits, splices, truncations, inserted tokens) and keeps mutants
//! that reach an outcome it has not seen before. `cargo nextest run -p lgmesh-fuzz`
//! runs every target for a bounded number of inputs; for long runs see `fuzz/README.md`.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lgmesh_protocol::document::{self, Defaults, Format};
use lgmesh_protocol::envelope::UnsignedManifest;
use lgmesh_protocol::identity::SecretKey;
use lgmesh_protocol::sample;
use lgmesh_protocol::v1::{
    FetchRequest, Manifests, StreamRequest, SyncRequest, SyncResponse, sync_request, sync_response,
};
use lgmesh_protocol::validate::{self, Limits};
use lgmesh_registry::{PutOutcome, Registry};
use prost::Message;

/// The targets, by name.
pub const TARGETS: [&str; 5] = [
    "envelope",
    "sync-request",
    "sync-response",
    "document",
    "batch",
];

/// A fixed clock, so that a crash reproduces.
const NOW: u64 = 1_790_000_000_000;

/// Runs one input; says how far it got (an outcome label).
type RunFn = Box<dyn Fn(&[u8]) -> &'static str>;

/// A target: what it needs set up once, and the function that runs one input.
pub struct Target {
    name: &'static str,
    run: RunFn,
    seeds: Vec<Vec<u8>>,
    _dir: tempfile::TempDir,
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    /// Inputs run.
    pub runs: u64,
    /// Distinct outcomes reached.
    pub outcomes: usize,
    /// Inputs in the corpus at the end.
    pub corpus: usize,
    /// The first input that panicked, and the panic message.
    pub crash: Option<(Vec<u8>, String)>,
}

/// A sync frame: an unsigned LEB128 length, then the message (prost's length-delimited form).
fn frame(msg: &impl Message) -> Vec<u8> {
    msg.encode_length_delimited_to_vec()
}

fn envelopes() -> Vec<Vec<u8>> {
    let a = SecretKey::from_seed(&[1; 32]);
    let b = SecretKey::from_seed(&[2; 32]);
    let sign = |k: &SecretKey, body| UnsignedManifest(body).sign(k).to_bytes();
    vec![
        sign(
            &a,
            sample::org("gss:E07000209", "Guildford Borough Council", 1, NOW),
        ),
        sign(
            &a,
            sample::service(
                "bins",
                1,
                "Bin days",
                "By postcode.",
                &[524],
                &["E07000209"],
                NOW,
            ),
        ),
        sign(&a, sample::retraction("bins", 2, NOW)),
        sign(
            &a,
            sample::endorsement(&b.public(), "gss:E08000035", 1, NOW),
        ),
        sign(&b, sample::adoption(&a.public(), "bins", 1, NOW)),
        sign(
            &b,
            sample::need("bulky-waste", "Bulky waste booking", &[863], NOW),
        ),
    ]
}

fn store(dir: &tempfile::TempDir) -> Arc<Registry> {
    let reg = Registry::open(dir.path(), Limits::default()).unwrap_or_else(|e| {
        panic!(
            "fuzz setup: cannot open a store in {}: {e}",
            dir.path().display()
        )
    });
    for e in envelopes() {
        let _ = reg.put(&e, NOW);
    }
    Arc::new(reg)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("fuzz setup: no temp dir: {e}"))
}

impl Target {
    /// Sets up the target called `name` (one of [`TARGETS`]).
    pub fn new(name: &str) -> Option<Target> {
        let dir = tempdir();
        Some(match name {
            "envelope" => {
                let reg = store(&dir);
                Target {
                    name: "envelope",
                    seeds: envelopes(),
                    run: Box::new(move |data| match reg.put(data, NOW) {
                        Ok(PutOutcome::Stored(_)) => "stored",
                        Ok(PutOutcome::Duplicate(_)) => "duplicate",
                        Ok(PutOutcome::Rejected(r)) => r.reason.as_str(),
                        Err(_) => "store-error",
                    }),
                    _dir: dir,
                }
            }
            "sync-request" | "sync-response" => {
                let reg = store(&dir);
                let target = lgmesh_net::fuzzing::SyncTarget::new(reg.clone());
                let ids: Vec<Vec<u8>> = reg
                    .sync_items()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(_, id)| id.0.to_vec())
                    .collect();
                let req = |k| SyncRequest { kind: Some(k) };
                let resp = |k| SyncResponse { kind: Some(k) };
                let mut neg_frame = vec![0x61];
                neg_frame.extend_from_slice(&[0, 0, 0x02]);
                let seeds = if name == "sync-request" {
                    vec![
                        frame(&req(sync_request::Kind::Reconcile(neg_frame.clone()))),
                        frame(&req(sync_request::Kind::Fetch(FetchRequest {
                            ids: ids.clone(),
                            id_prefixes: ids.iter().flat_map(|i| i[..16].to_vec()).collect(),
                        }))),
                        frame(&req(sync_request::Kind::Stream(StreamRequest {
                            after_issued_at_ms: 0,
                            after_id: vec![],
                            max_items: 10,
                        }))),
                    ]
                } else {
                    vec![
                        frame(&resp(sync_response::Kind::Reconcile(neg_frame))),
                        frame(&resp(sync_response::Kind::Manifests(Manifests {
                            envelopes: envelopes(),
                            ..Default::default()
                        }))),
                        frame(&resp(sync_response::Kind::Refused("busy".into()))),
                    ]
                };
                let request = name == "sync-request";
                Target {
                    name: if request {
                        "sync-request"
                    } else {
                        "sync-response"
                    },
                    seeds,
                    run: Box::new(move |data| {
                        if request {
                            target.request(data)
                        } else {
                            target.response(data)
                        }
                    }),
                    _dir: dir,
                }
            }
            "document" => {
                let examples =
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/manifests");
                let mut seeds = vec![];
                if let Ok(rd) = std::fs::read_dir(&examples) {
                    let mut paths: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
                    paths.sort();
                    for p in paths {
                        let tag = match p.extension().and_then(|e| e.to_str()) {
                            Some("toml") => b't',
                            Some("yaml" | "yml") => b'y',
                            Some("json") => b'j',
                            _ => continue,
                        };
                        if let Ok(text) = std::fs::read(&p) {
                            let mut s = vec![tag];
                            s.extend(text);
                            seeds.push(s);
                        }
                    }
                }
                seeds.push(b"tname = \"x\"\nkind = \"service\"\n".to_vec());
                let defaults = Defaults {
                    org_id: "gss:E07000209".into(),
                };
                Target {
                    name: "document",
                    seeds,
                    run: Box::new(move |data| {
                        let Some((&tag, rest)) = data.split_first() else {
                            return "empty";
                        };
                        let format = match tag % 3 {
                            0 => Format::Toml,
                            1 => Format::Yaml,
                            _ => Format::Json,
                        };
                        let text = String::from_utf8_lossy(rest);
                        match document::parse(&text, format, None, &defaults) {
                            Ok(_) => "parsed",
                            Err(document::DocumentError::TooLarge(_)) => "too-large",
                            Err(document::DocumentError::Syntax { .. }) => "syntax",
                            Err(document::DocumentError::Fields(f)) if f.len() == 1 => "one-field",
                            Err(_) => "fields",
                        }
                    }),
                    _dir: dir,
                }
            }
            "batch" => {
                let page = envelopes();
                Target {
                    name: "batch",
                    seeds: page.clone(),
                    run: Box::new(move |data| {
                        let at = page.len() / 2;
                        let mut items = page.clone();
                        items.insert(at, data.to_vec());
                        let limits = Limits::default();
                        let batched = validate::verify_many(&items, &limits, NOW);
                        for (b, item) in batched.iter().zip(&items) {
                            let alone = validate::verify_bytes(item, &limits, NOW);
                            let same = match (b, &alone) {
                                (Ok(x), Ok(y)) => x.id() == y.id(),
                                (Err(x), Err(y)) => x.reason == y.reason && x.message == y.message,
                                _ => false,
                            };
                            assert!(same, "a batch and a single check disagree");
                        }
                        match &batched[at] {
                            Ok(_) => "valid",
                            Err(r) => r.reason.as_str(),
                        }
                    }),
                    _dir: dir,
                }
            }
            _ => return None,
        })
    }

    /// The target's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Runs one input, catching a panic.
    pub fn run_one(&self, data: &[u8]) -> Result<&'static str, String> {
        catch_unwind(AssertUnwindSafe(|| (self.run)(data))).map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panic".into())
        })
    }
}

/// xorshift64*: fast, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Tokens that break parsers more often than random bytes do.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"'''",
    b"[",
    b"]",
    b"[[",
    b"{",
    b"}",
    b"=",
    b"\n",
    b":",
    b"- ",
    b"&a",
    b"*a",
    b"!!",
    b"\\u0000",
    b"1e999",
    b"-0",
    b"18446744073709551616",
    b"\xff",
    b"\x80",
    b"\x00",
    b"#",
    b"lgsl = [",
    b"coverage = [\"",
    b"kind = \"dataset\"",
    b"distribution = [{",
];

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = [0, 0x7f, 0x80, 0xff, rng.next() as u8][rng.below(5)];
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                v.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let copy = v[i..i + n].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, copy);
            }
            5 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let i = rng.below(other.len());
                    let n = 1 + rng.below((other.len() - i).min(256));
                    let at = rng.below(v.len() + 1);
                    v.splice(at..at, other[i..i + n].iter().copied());
                }
            }
            6 if len > 0 => v.truncate(rng.below(len)),
            7 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                v.splice(at..at, t.iter().copied());
            }
            _ if len > 1 => {
                // A varint-looking length somewhere: protobuf and frame headers.
                let i = rng.below(len);
                v[i] = 0x80 | rng.next() as u8;
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v.truncate(1 << 20);
    v
}

/// Runs `target` on mutants of its corpus until `max_runs` inputs or `max_time`,
/// whichever comes first, from `seed`. Stops at the first panic and reports it.
pub fn run(target: &Target, max_runs: u64, max_time: Duration, seed: u64) -> Report {
    let mut rng = Rng(seed | 1);
    let mut corpus = target.seeds.clone();
    let mut seen = HashSet::new();
    let mut report = Report::default();
    let started = Instant::now();
    // The seeds themselves first.
    for s in target.seeds.iter() {
        report.runs += 1;
        match target.run_one(s) {
            Ok(o) => {
                seen.insert(o);
            }
            Err(msg) => {
                report.crash = Some((s.clone(), msg));
                return report;
            }
        }
    }
    while report.runs < max_runs && started.elapsed() < max_time {
        let parent = if corpus.is_empty() {
            vec![]
        } else {
            corpus[rng.below(corpus.len())].clone()
        };
        let input = mutate(&mut rng, &parent, &corpus);
        report.runs += 1;
        match target.run_one(&input) {
            Ok(outcome) => {
                // Keep what reaches something new, and a trickle of the rest for variety.
                if (seen.insert(outcome) || rng.below(64) == 0) && corpus.len() < 4096 {
                    corpus.push(input);
                }
            }
            Err(msg) => {
                report.crash = Some((input, msg));
                break;
            }
        }
    }
    report.outcomes = seen.len();
    report.corpus = corpus.len();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short, bounded run of every target: what CI runs. Long runs: `fuzz/README.md`.
    #[test]
    fn every_target_survives_a_bounded_run() {
        for name in TARGETS {
            let t = Target::new(name).expect("target");
            let r = run(
                &t,
                3_000,
                Duration::from_secs(60),
                0x5eed_0000 + name.len() as u64,
            );
            if let Some((input, msg)) = &r.crash {
                panic!("{name} panicked ({msg}) on input {}", hex::encode(input));
            }
            assert!(r.runs >= 100, "{name}: only {} runs", r.runs);
            eprintln!(
                "{name}: {} runs, {} outcomes, corpus {}",
                r.runs, r.outcomes, r.corpus
            );
        }
    }

    #[test]
    fn the_seeds_reach_the_deep_outcomes() {
        let t = Target::new("envelope").expect("target");
        // A valid manifest stores; the same again is a duplicate.
        let env = envelopes().remove(3);
        let first = t.run_one(&env).expect("no panic");
        assert!(matches!(first, "stored" | "duplicate"), "{first}");
        assert_eq!(t.run_one(&env), Ok("duplicate"));
        assert_eq!(t.run_one(b"\xff\xff"), Ok("decode"));
    }
}
