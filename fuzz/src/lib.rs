//! Coverage-guided fuzz targets for what untrusted peers, files and API clients feed
//! lgmesh, run by cargo-fuzz (libFuzzer). How to run them: `fuzz/README.md`.
//!
//! | target | what it feeds | reaches |
//! | --- | --- | --- |
//! | `envelope` | an envelope, as a `Submit` or a gossip message | size, decode, schema, signature and time checks, then placement in a sled store |
//! | `batch` | one envelope in a page of valid ones | the batched signature checks of sync, which must give every envelope the verdict it gets alone |
//! | `sync-request` | a peer's inbound sync stream | the frame reader, the decoder, negentropy and the fetch and stream handlers |
//! | `sync-response` | a peer's answer to this node | the frame reader, the decoder, negentropy's initiator side, manifest checks |
//! | `document` | a TOML, YAML or JSON manifest file | the parsers, the UK metadata model mapping and `lgmesh check` |
//! | `grpc` | a few calls to the node's Registry and Trust services | the handlers in `node/src/grpc.rs` over a real `App` and store |
//! | `web` | hostile manifests, then requests to the web interface | every page, CSV and `/catalog.jsonld` over a real `App` and store, and each record `lgmesh export ukgov` writes |
//!
//! Every target must return for any input without panicking; a panic is a bug.
//!
//! Each target reads an [`Input`]: raw bytes, as a peer or a file could send them, or
//! a structure built by `arbitrary` from the bytes (a manifest body, a sync message, a
//! document's fields) and then encoded, so that libFuzzer's mutations land on fields
//! rather than mostly on framing. This crate holds each target's setup and input model;
//! `fuzz_targets/*.rs` are the libFuzzer entry points, a few lines each.
#![deny(missing_docs)]

pub mod batch;
pub mod corpus;
pub mod document;
pub mod envelope;
pub mod grpc;
pub mod sync;
pub mod text;
pub mod web;

use std::path::Path;
use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use lgmesh::intake::Intake;
use lgmesh::metrics::Source;
use lgmesh_protocol::envelope::UnsignedManifest;
use lgmesh_protocol::identity::SecretKey;
use lgmesh_protocol::sample;
use lgmesh_protocol::validate::Limits;
use lgmesh_registry::{Durability, IfBusy, Registry};

/// A fixed clock (2026-09-21), so that a crash reproduces.
pub const NOW: u64 = 1_790_000_000_000;

/// A fuzz target: its setup, and what it does with one input.
pub trait Target: Sized {
    /// The target's name, as `cargo fuzz run` takes it.
    const NAME: &'static str;
    /// What one run takes (libFuzzer's bytes go through [`Arbitrary`] into it).
    type Input: for<'a> Arbitrary<'a>;
    /// Sets the target up once per process.
    fn new() -> Self;
    /// Runs one input. Panics only on a bug.
    fn run(&self, input: Self::Input);
    /// Small valid inputs, as bytes, named: the committed corpus (`fuzz/corpus/NAME/`).
    fn seeds() -> Vec<(String, Vec<u8>)>;

    /// Runs the bytes of one corpus file or crash artifact.
    fn run_bytes(&self, data: &[u8]) {
        if let Ok(input) = Self::Input::arbitrary_take_rest(Unstructured::new(data)) {
            self.run(input);
        }
    }
}

/// What a target takes: raw bytes, or a structure to encode. The first input byte
/// decides: even, the rest are raw bytes; odd, the rest build a `T`. A raw seed is
/// therefore the bytes with a 0 in front ([`raw`]).
#[derive(Debug)]
pub enum Input<T> {
    /// Bytes as they arrive.
    Raw(Vec<u8>),
    /// A structure, encoded by the target.
    Built(T),
}

impl<'a, T: Arbitrary<'a>> Arbitrary<'a> for Input<T> {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(if u8::arbitrary(u)? % 2 == 0 {
            Self::Raw(Vec::arbitrary(u)?)
        } else {
            Self::Built(T::arbitrary(u)?)
        })
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(if u8::arbitrary(&mut u)? % 2 == 0 {
            Self::Raw(u.take_rest().to_vec())
        } else {
            Self::Built(T::arbitrary_take_rest(u)?)
        })
    }
}

/// The input bytes that make `bytes` a raw [`Input`].
pub fn raw(bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(bytes.len() + 1);
    v.push(0);
    v.extend_from_slice(bytes);
    v
}

/// How many fixed publisher keys the targets sign with.
pub const KEYS: u8 = 3;

/// Fixed publisher key `i % KEYS`: the same in every run, so that crashes reproduce.
pub fn key(i: u8) -> SecretKey {
    SecretKey::from_seed(&[i % KEYS + 1; 32])
}

/// Valid envelopes of several kinds by two publishers, signed at [`NOW`]: the contents
/// of every target's store, and the seeds of the envelope targets.
pub fn seed_envelopes() -> Vec<(&'static str, Vec<u8>)> {
    let (a, b) = (key(0), key(1));
    let sign = |k: &SecretKey, body| UnsignedManifest(body).sign(k).to_bytes();
    vec![
        (
            "org",
            sign(
                &a,
                sample::org("gss:E07000209", "Guildford Borough Council", 1, NOW),
            ),
        ),
        (
            "service",
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
        ),
        ("retraction", sign(&a, sample::retraction("bins", 2, NOW))),
        (
            "endorsement",
            sign(
                &a,
                sample::endorsement(&b.public(), "gss:E08000035", 1, NOW),
            ),
        ),
        (
            "adoption",
            sign(&b, sample::adoption(&a.public(), "bins", 1, NOW)),
        ),
        (
            "need",
            sign(
                &b,
                sample::need("bulky-waste", "Bulky waste booking", &[863], NOW),
            ),
        ),
    ]
}

/// A real store in a temporary directory, holding [`seed_envelopes`].
///
/// A fuzzing process ends with `exit`, so a store held in a `static` is never dropped
/// and its directory stays behind; each new store removes those of processes that have
/// ended (`lgmesh-fuzz-PID-*` in the temp dir).
pub struct Store {
    /// The store.
    pub registry: Arc<Registry>,
    /// The node's way into it, as `lgmesh run` builds it.
    pub intake: Arc<Intake>,
    _dir: tempfile::TempDir,
}

/// sled's page cache for a fuzz store: its contents are small.
const CACHE_BYTES: u64 = 16 * 1024 * 1024;

impl Store {
    /// Opens a new store and puts the seed envelopes in it.
    pub fn seeded() -> Self {
        sweep_stale_stores(&std::env::temp_dir());
        let dir = tempfile::Builder::new()
            .prefix(&format!("lgmesh-fuzz-{}-", std::process::id()))
            .tempdir()
            .expect("fuzz setup: no temporary directory");
        let registry = Arc::new(
            Registry::open_with_cache(dir.path(), Limits::default(), CACHE_BYTES)
                .expect("fuzz setup: cannot open a store"),
        );
        let intake = Arc::new(Intake::new(registry.clone(), Arc::default()));
        let store = Self {
            registry,
            intake,
            _dir: dir,
        };
        let seeds: Vec<Vec<u8>> = seed_envelopes().into_iter().map(|(_, e)| e).collect();
        store.submit(&seeds);
        store
    }

    /// Writes envelopes as `Submit` does: durable and searchable when it returns.
    pub fn submit(&self, envelopes: &[Vec<u8>]) {
        let checked = self.intake.check(envelopes, &[], NOW);
        let _ = self.intake.write(
            checked,
            Source::Submit,
            Durability::Searchable,
            IfBusy::Wait,
            |_| {},
        );
    }
}

/// Removes the stores of fuzzing processes that no longer run (Linux: by `/proc`).
fn sweep_stale_stores(tmp: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("lgmesh-fuzz-"))
            .and_then(|rest| rest.split('-').next())
            .filter(|pid| pid.parse::<u32>().is_ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A change to encoded bytes after they are built: what a broken or hostile sender
/// does to a well-formed message.
#[derive(Debug, Arbitrary)]
pub enum Mangle {
    /// Sent as built.
    None,
    /// One bit flipped (position taken modulo the length).
    FlipBit(u16),
    /// One byte set.
    SetByte(u16, u8),
    /// Cut to this many bytes (modulo the length).
    Truncate(u16),
    /// Bytes added in front.
    Prepend(Vec<u8>),
    /// Bytes added at the end.
    Append(Vec<u8>),
    /// Bytes inserted at a position (modulo the length).
    Insert(u16, Vec<u8>),
}

impl Mangle {
    /// Applies the change to `v`.
    pub fn apply(&self, mut v: Vec<u8>) -> Vec<u8> {
        let at = |i: u16, len: usize| usize::from(i) % len.max(1);
        match self {
            Self::None => {}
            Self::FlipBit(i) if !v.is_empty() => {
                let n = at(*i, v.len() * 8);
                v[n / 8] ^= 1 << (n % 8);
            }
            Self::SetByte(i, b) if !v.is_empty() => {
                let n = at(*i, v.len());
                v[n] = *b;
            }
            Self::Truncate(i) => v.truncate(at(*i, v.len())),
            Self::Prepend(extra) => {
                v.splice(0..0, extra.iter().copied());
            }
            Self::Append(extra) => v.extend_from_slice(extra),
            Self::Insert(i, extra) => {
                let n = at(*i, v.len() + 1);
                v.splice(n..n, extra.iter().copied());
            }
            Self::FlipBit(_) | Self::SetByte(..) => {}
        }
        v
    }
}
