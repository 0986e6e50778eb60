//! `lgmesh-bench`: the one-node benchmarks. Prints figures and ratios against baselines
//! measured in the same run. See BENCHMARKS.md for the command and recorded results.
//!
//! 1. ingest of pre-signed manifests (validate + store + flush, batched) against a plain
//!    ed25519 check of each signature alone (key decompressed each time), same manifests;
//! 2. search latency p50/p99 over the whole corpus (default 100,000 manifests);
//! 3. start-up of the real `lgmesh run` to serving gRPC with that store, and its idle RSS.
//!
//! `--claims N` measures instead a store where N keys each claim one organisation (the
//! attack of issue 18): ingest, the trust judgement, start-up, a full `trust list`, and
//! the node's peak RSS.
//!
//! The corpus is made from real data: the councils and the Local Government Services
//! List in `examples/data/`.

/// The node's allocator (see `node/src/main.rs`), so that the figures are the node's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use lgmesh_protocol::envelope::{self, UnsignedManifest};
use lgmesh_protocol::identity::SecretKey;
use lgmesh_protocol::{now_ms, sample, v1};
use lgmesh_registry::{Query, Registry};
use prost::Message;

struct Args {
    reuse: bool,
    manifests: usize,
    batch: usize,
    queries: usize,
    claims: usize,
    dir: Option<PathBuf>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        reuse: false,
        manifests: 100_000,
        batch: 1000,
        queries: 2_000,
        claims: 0,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--manifests" => a.manifests = val()?.parse()?,
            "--queries" => a.queries = val()?.parse()?,
            "--claims" => a.claims = val()?.parse()?,
            "--reuse" => a.reuse = true,
            "--batch" => a.batch = val()?.parse::<usize>()?.max(1),
            "--dir" => a.dir = Some(val()?.into()),
            "-h" | "--help" => {
                println!(
                    "usage: lgmesh-bench [--manifests N (100000)] [--batch N (1000)] [--queries N (2000)] [--dir DIR (a temp dir; kept when given)] [--reuse (search and start-up only, on --dir's store)] [--claims N (instead: N keys claiming one organisation)]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

/// A small RFC 4180 reader (quoted fields may hold commas, quotes and newlines).
fn csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

struct Service {
    code: u32,
    label: String,
    description: String,
}

struct Council {
    gss: String,
    name: String,
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data")
}

fn load() -> Result<(Vec<Service>, Vec<Council>)> {
    let lgsl = std::fs::read_to_string(data_dir().join("lgsl_services_joined.csv"))?;
    let services: Vec<Service> = csv(&lgsl)
        .into_iter()
        .skip(1)
        .filter_map(|r| {
            Some(Service {
                code: r.first()?.parse().ok()?,
                label: r.get(1)?.clone(),
                description: r.get(2)?.clone(),
            })
        })
        .filter(|s| !s.description.trim().is_empty())
        .collect();
    let councils_csv = std::fs::read_to_string(data_dir().join("uk_councils_current_joined.csv"))?;
    let rows = csv(&councils_csv);
    let head = rows.first().context("empty councils file")?;
    let col = |n: &str| {
        head.iter()
            .position(|h| h == n)
            .with_context(|| format!("no column {n}"))
    };
    let (gss, name) = (col("gss_code")?, col("official_name")?);
    let councils = rows
        .iter()
        .skip(1)
        .filter_map(|r| {
            Some(Council {
                gss: r.get(gss)?.clone(),
                name: r.get(name)?.clone(),
            })
        })
        .filter(|c| lgmesh_protocol::identity::is_gss_code(&c.gss))
        .collect();
    Ok((services, councils))
}

/// A deterministic generator (splitmix64), so every run builds the same corpus.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn ingest(a: &Args, services: &[Service], councils: &[Council], tmp: &Path) -> Result<()> {
    // Corpus: each council signs with its own key.
    let now = now_ms();
    let keys: Vec<SecretKey> = (0..councils.len())
        .map(|i| SecretKey::from_seed(&seed(i)))
        .collect();
    let mut rng = Rng(42);
    let t = Instant::now();
    let mut corpus: Vec<Vec<u8>> = Vec::with_capacity(a.manifests + councils.len());
    for (i, c) in councils.iter().enumerate() {
        corpus.push(
            UnsignedManifest(sample::org(&format!("gss:{}", c.gss), &c.name, 1, now))
                .sign(&keys[i])
                .to_bytes(),
        );
    }
    for i in 0..a.manifests {
        let ci = rng.below(councils.len());
        let s = &services[rng.below(services.len())];
        let c = &councils[ci];
        let mut body = sample::service(
            &format!("lgsl-{}-{i}", s.code),
            1,
            &format!("{} ({})", s.label, c.name),
            &s.description,
            &[s.code],
            &[c.gss.as_str()],
            now,
        );
        if let Some(v1::manifest_body::Kind::Service(svc)) = &mut body.kind {
            svc.service_status = [6, 6, 6, 3, 2, 1, 7][rng.below(7)];
            if let Some(common) = &mut svc.common {
                common.keyword = s.label.split(" - ").map(str::to_owned).take(5).collect();
            }
        }
        corpus.push(UnsignedManifest(body).sign(&keys[ci]).to_bytes());
    }
    let bytes: usize = corpus.iter().map(Vec::len).sum();
    println!(
        "\ncorpus: {} envelopes, {:.1} MiB, mean {} B, signed in {:.2} s",
        corpus.len(),
        bytes as f64 / 1048576.0,
        bytes / corpus.len(),
        t.elapsed().as_secs_f64()
    );

    // 1. Baseline: each signature checked alone, as a plain ed25519 library does it (the
    //    key decompressed each time, no cache), over the same manifests, one core.
    let parts: Vec<([u8; 32], Vec<u8>, [u8; 64])> = corpus
        .iter()
        .map(|b| {
            let env = v1::Envelope::decode(b.as_slice()).expect("own envelope");
            let body = v1::ManifestBody::decode(env.body.as_slice()).expect("own body");
            let mut msg = envelope::SIGNING_DOMAIN.to_vec();
            msg.extend_from_slice(&env.body);
            (
                body.publisher.as_slice().try_into().expect("own key"),
                msg,
                env.signature.as_slice().try_into().expect("own signature"),
            )
        })
        .collect();
    let t = Instant::now();
    let mut good = 0usize;
    for (pk, msg, sig) in &parts {
        let ok = ed25519_zebra::VerificationKey::try_from(*pk).is_ok_and(|vk| {
            vk.verify(&ed25519_zebra::Signature::from_bytes(sig), msg)
                .is_ok()
        });
        good += usize::from(ok);
    }
    let verify_s = t.elapsed().as_secs_f64();
    assert_eq!(good, parts.len());
    let verify_rate = parts.len() as f64 / verify_s;
    println!("\n1. ingest");
    println!("   baseline, one signature at a time (1 core): {verify_rate:>9.0} manifests/s");
    drop(parts);

    let store_dir = tmp.join("store");
    let reg = Registry::open(&store_dir, Default::default())?;
    let mut stored = 0;
    // A stream of batches, as a node catching up receives them: verification of the
    // next batch overlaps storage of this one.
    let batches: Vec<Vec<Vec<u8>>> = corpus.chunks(a.batch).map(<[Vec<u8>]>::to_vec).collect();
    let t = Instant::now();
    for o in lgmesh::intake::write_pipelined(&reg, batches, now)? {
        stored += usize::from(matches!(o, lgmesh_registry::PutOutcome::Stored(_)));
    }
    let ingest_s = t.elapsed().as_secs_f64();
    reg.wait_indexed()?;
    let searchable_s = t.elapsed().as_secs_f64();
    assert_eq!(stored, corpus.len(), "every manifest stored");
    let ingest_rate = corpus.len() as f64 / ingest_s;
    let searchable_rate = corpus.len() as f64 / searchable_s;
    println!(
        "   ingest, batches of {}, durable:     {ingest_rate:>9.0} manifests/s  ({ingest_s:.1} s)",
        a.batch
    );
    println!(
        "   ... and searchable (index caught up): {searchable_rate:>9.0} manifests/s  ({searchable_s:.1} s)"
    );
    println!(
        "   ratio durable ingest / baseline:      {:>9.2}   (goal >= 0.5)",
        ingest_rate / verify_rate
    );
    println!(
        "   ratio searchable / baseline:          {:>9.2}",
        searchable_rate / verify_rate
    );

    // Durable one-at-a-time puts (what a single gRPC publish pays).
    let extra: Vec<Vec<u8>> = (0..300)
        .map(|i| {
            UnsignedManifest(sample::service(
                &format!("single-{i}"),
                1,
                "Single put",
                "One at a time.",
                &[1],
                &["E07000209"],
                now,
            ))
            .sign(&keys[0])
            .to_bytes()
        })
        .collect();
    let mut lat = vec![];
    for b in &extra {
        let t = Instant::now();
        // As a local publish writes: flushed, and searchable when it returns.
        let checked = reg.check(std::slice::from_ref(b), &[], now);
        reg.write(
            checked,
            lgmesh_registry::Durability::Searchable,
            lgmesh_registry::IfBusy::Wait,
            |_| {},
        )?;
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "   one durable put (validate+store+flush): p50 {}  p99 {}",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );

    Ok(())
}

fn main() -> Result<()> {
    let a = args()?;
    if a.claims > 0 {
        let tmp = tempfile_dir(a.dir.clone(), false)?;
        claims(a.claims, &tmp)?;
        if a.dir.is_none() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        return Ok(());
    }
    let (services, councils) = load()?;
    let tmp = tempfile_dir(a.dir.clone(), a.reuse)?;
    println!(
        "lgmesh-bench: {} manifests from {} councils x {} LGSL services; {} queries; dir {}",
        a.manifests,
        councils.len(),
        services.len(),
        a.queries,
        tmp.display()
    );
    println!(
        "machine: {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    if a.reuse {
        println!(
            "\n1. ingest: skipped (--reuse: searching the store already in {})",
            tmp.display()
        );
    } else {
        ingest(&a, &services, &councils, &tmp)?;
    }
    // Search a settled store, as a running node does: reopen it (which is also what a
    // restart costs in-process).
    let t = Instant::now();
    let reg = Registry::open(&tmp.join("store"), Default::default())?;
    println!("\n   store reopened in-process in {}", ms(t.elapsed()));
    let heads = reg.counts()?.heads;

    // 2. Search latency.
    let mut qs: Vec<(&str, Query)> = vec![];
    let mut rng = Rng(7);
    for i in 0..a.queries {
        let s = &services[rng.below(services.len())];
        let c = &councils[rng.below(councils.len())];
        let words: Vec<&str> = s
            .label
            .split(|ch: char| !ch.is_alphanumeric())
            .filter(|w| w.len() > 3)
            .collect();
        let text = if words.is_empty() {
            s.label.clone()
        } else {
            words[..words.len().min(1 + i % 2)].join(" ")
        };
        let q = match i % 4 {
            0 => (
                "text",
                Query {
                    text,
                    page_size: 20,
                    ..Default::default()
                },
            ),
            1 => (
                "text+area",
                Query {
                    text,
                    area: Some(c.gss.clone()),
                    page_size: 20,
                    ..Default::default()
                },
            ),
            2 => (
                "lgsl",
                Query {
                    lgsl: Some(s.code),
                    page_size: 20,
                    ..Default::default()
                },
            ),
            _ => (
                "lgsl+area",
                Query {
                    lgsl: Some(s.code),
                    area: Some(c.gss.clone()),
                    kind: Some("service".into()),
                    page_size: 20,
                    ..Default::default()
                },
            ),
        };
        qs.push(q);
    }
    // Warm the cache as a running node would be.
    for (_, q) in qs.iter().take(200) {
        reg.search(q)?;
    }
    let mut all = vec![];
    let mut by: std::collections::BTreeMap<&str, Vec<Duration>> = Default::default();
    let mut hits = 0usize;
    let mut index_only = vec![];
    for (class, q) in &qs {
        let t = Instant::now();
        let page = reg.search(q)?;
        index_only.push(t.elapsed());
        for h in &page.hits {
            reg.get(&h.id)?;
        }
        let d = t.elapsed();
        hits += page.hits.len();
        all.push(d);
        by.entry(class).or_default().push(d);
    }
    all.sort();
    index_only.sort();
    println!(
        "\n2. search over {} heads ({} queries, page of 20, results loaded)",
        heads,
        qs.len()
    );
    println!(
        "   all        p50 {}  p99 {}  max {}   (goal p99 <= 2 ms)",
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
        ms(*all.last().unwrap_or(&Duration::ZERO))
    );
    for (class, mut v) in by {
        v.sort();
        println!(
            "   {class:<10} p50 {}  p99 {}",
            ms(percentile(&v, 0.5)),
            ms(percentile(&v, 0.99))
        );
    }
    println!(
        "   (index alone, ids only: p50 {}  p99 {})",
        ms(percentile(&index_only, 0.5)),
        ms(percentile(&index_only, 0.99))
    );
    println!("   mean hits per page {:.1}", hits as f64 / qs.len() as f64);
    reg.flush()?;
    drop(reg);

    // 3. Start-up of the real binary on this store, and idle RSS.
    startup(&tmp)?;
    // 4. The web pages of the real binary on this store.
    web(&tmp)?;
    if a.dir.is_none() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(())
}

fn seed(i: usize) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    s
}

fn tempfile_dir(given: Option<PathBuf>, reuse: bool) -> Result<PathBuf> {
    let p = match given {
        Some(p) => p,
        None => std::env::temp_dir().join(format!("lgmesh-bench-{}", std::process::id())),
    };
    match (reuse, p.join("store").exists()) {
        (true, false) => bail!("--reuse needs --dir DIR holding the store of an earlier run"),
        (false, true) => bail!(
            "{} already holds a store; give an empty --dir, or --reuse",
            p.display()
        ),
        _ => {}
    }
    std::fs::create_dir_all(&p)?;
    Ok(p)
}

fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// A `/proc/PID/status` figure in KiB: `VmRSS:` now, `VmHWM:` at its peak.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn startup(dir: &Path) -> Result<()> {
    let bin = node_binary()?;
    let data = lgmesh::datadir::DataDir(dir.to_owned());
    if !data.is_initialised() {
        lgmesh::datadir::init(
            &data,
            &lgmesh::datadir::InitOptions {
                org: "gss:E07000209"
                    .parse()
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
                name: "Guildford Borough Council".into(),
                org_type: "district".into(),
                website: String::new(),
                contact_email: String::new(),
                development: false,
            },
        )?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut times = vec![];
    let mut rss = vec![];
    for _ in 0..5 {
        let _ = std::fs::remove_file(data.node_json());
        let t = Instant::now();
        let mut child = spawn_node(&bin, dir)?;
        let served = rt
            .block_on(serving(&data, t, Duration::from_secs(60)))
            .map(|_| t.elapsed());
        std::thread::sleep(Duration::from_secs(3));
        rss.push(rss_kib(child.id()).unwrap_or(0));
        let _ = child.kill();
        let _ = child.wait();
        times.push(served.context("the node did not serve within 60 s")?);
    }
    times.sort();
    rss.sort();
    println!("\n3. start-up of `lgmesh run` on this store (5 runs)");
    println!(
        "   to serving gRPC (first Info answered): median {}  max {}   (goal <= 200 ms)",
        ms(times[2]),
        ms(times[4])
    );
    println!(
        "   idle RSS after 3 s: median {:.1} MiB  max {:.1} MiB   (goal <= 32 MiB)",
        rss[2] as f64 / 1024.0,
        rss[4] as f64 / 1024.0
    );
    Ok(())
}

/// N keys, each signing an org card that claims Guildford's GSS code: the store is filled,
/// judged in process, then served by the real binary, which is asked for every page of
/// `trust list`.
fn claims(n: usize, dir: &Path) -> Result<()> {
    println!(
        "lgmesh-bench --claims: {n} keys claim gss:E07000209; dir {}",
        dir.display()
    );
    let now = now_ms();
    let t = Instant::now();
    let cards: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let key = SecretKey::from_seed(&seed(1_000_000 + i));
            UnsignedManifest(sample::org(
                "gss:E07000209",
                "Guildford Borough Council",
                1,
                now,
            ))
            .sign(&key)
            .to_bytes()
        })
        .collect();
    println!("   signed {n} org cards in {}", ms(t.elapsed()));
    {
        let reg = Registry::open(&dir.join("store"), Default::default())?;
        let t = Instant::now();
        let batches: Vec<Vec<Vec<u8>>> = cards.chunks(1000).map(<[_]>::to_vec).collect();
        let out = lgmesh::intake::write_pipelined(&reg, batches, now)?;
        let stored = out
            .iter()
            .filter(|o| matches!(o, lgmesh_registry::PutOutcome::Stored(_)))
            .count();
        reg.flush()?;
        println!(
            "   stored {stored} of {n} (the rest over the unverified quota) in {}",
            ms(t.elapsed())
        );
    }
    let t = Instant::now();
    let reg = Registry::open(&dir.join("store"), Default::default())?;
    println!("   store reopened in-process in {}", ms(t.elapsed()));
    let t = Instant::now();
    let view = reg.trust()?;
    println!(
        "   trust judgement (cold): {} for {} keys",
        ms(t.elapsed()),
        reg.publishers_of_org("gss:E07000209")?.len()
    );
    drop(view);
    drop(reg);

    let bin = node_binary()?;
    let data = lgmesh::datadir::DataDir(dir.to_owned());
    lgmesh::datadir::init(
        &data,
        &lgmesh::datadir::InitOptions {
            org: "gss:E08000035"
                .parse()
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            name: "Leeds City Council".into(),
            org_type: "metropolitan-district".into(),
            website: String::new(),
            contact_email: String::new(),
            development: false,
        },
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let t = Instant::now();
    let mut child = spawn_node(&bin, dir)?;
    let result = rt.block_on(async {
        let grpc = serving(&data, t, Duration::from_secs(120))
            .await
            .context("the node did not serve within 120 s")?;
        let started = t.elapsed();
        let mut c = v1::trust_client::TrustClient::connect(format!("http://{grpc}")).await?;
        let t = Instant::now();
        let (mut listed, mut pages, mut after) = (0, 0, String::new());
        loop {
            let page = c
                .list(v1::TrustListRequest {
                    after: after.clone(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            listed += page.publishers.len();
            pages += 1;
            if page.next.is_empty() {
                break;
            }
            after = page.next;
        }
        anyhow::Ok((started, t.elapsed(), listed, pages))
    });
    let peak = status_kib(child.id(), "VmHWM:").unwrap_or(0);
    let now_rss = rss_kib(child.id()).unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    let (started, listed_in, listed, pages) = result?;
    println!(
        "   start-up of `lgmesh run` to serving gRPC: {}",
        ms(started)
    );
    println!(
        "   trust list, every page: {listed} keys in {pages} pages, {}",
        ms(listed_in)
    );
    println!(
        "   node RSS: peak {:.1} MiB, after listing {:.1} MiB",
        peak as f64 / 1024.0,
        now_rss as f64 / 1024.0
    );
    Ok(())
}

/// `GET path` over a fresh connection: (status code, body).
fn http_get(addr: &str, path: &str) -> Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let status = buf
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .context("no HTTP status")?;
    let body = buf.split_once("\r\n\r\n").map_or("", |b| b.1).to_owned();
    Ok((status, body))
}

/// Every page of the web interface served by the real binary on this store, 100 times
/// each, against `/healthz` (the HTTP stack alone) as the baseline.
fn web(dir: &Path) -> Result<()> {
    const RUNS: usize = 100;
    let bin = node_binary()?;
    let data = lgmesh::datadir::DataDir(dir.to_owned());
    let _ = std::fs::remove_file(data.node_json());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let t = Instant::now();
    let mut child = spawn_node(&bin, dir)?;
    let result = (|| -> Result<()> {
        rt.block_on(serving(&data, t, Duration::from_secs(60)))
            .context("the node did not serve within 60 s")?;
        let running: lgmesh::datadir::Running =
            serde_json::from_str(&std::fs::read_to_string(data.node_json())?)?;
        let addr = running.http.to_string();
        // The first summary of the store: the overview says when it was made.
        let overview = loop {
            let (_, body) = http_get(&addr, "/")?;
            if !body.contains("1970-01-01") {
                break body;
            }
            if t.elapsed() > Duration::from_secs(120) {
                bail!("no summary of the store within 120 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let built = overview
            .split("(in ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .unwrap_or("?");
        let pick = |page: &str, prefix: &str| -> Result<String> {
            let (_, body) = http_get(&addr, page)?;
            body.split(prefix)
                .nth(1)
                .and_then(|s| s.split('"').next())
                .map(|s| format!("{prefix}{s}"))
                .with_context(|| format!("no {prefix} link on {page}"))
        };
        let manifest = pick("/catalogue?lgsl=524", "/manifests/")?;
        let org = pick("/organisations", "/organisations/did:key:")?;
        println!(
            "\n4. web pages of `lgmesh run` on this store ({RUNS} requests each, a new connection each; summary of the store built in {built} ms)"
        );
        println!(
            "   {:<34} {:>9} {:>9} {:>9} {:>9}",
            "page", "p50", "p99", "max", "KiB"
        );
        let mut base_p99 = Duration::ZERO;
        for page in [
            "/healthz",
            "/",
            "/catalogue",
            "/catalogue?q=bin+collection",
            "/catalogue?lgsl=524&verified=1",
            manifest.as_str(),
            "/organisations",
            org.as_str(),
            "/coverage",
            "/coverage?all=1",
            "/reuse",
            "/anomalies",
            "/coverage.csv",
        ] {
            let mut times = Vec::with_capacity(RUNS);
            let mut size = 0;
            for _ in 0..RUNS {
                let t = Instant::now();
                let (status, body) = http_get(&addr, page)?;
                times.push(t.elapsed());
                if status != 200 {
                    bail!("{page}: HTTP {status}");
                }
                size = body.len();
            }
            times.sort();
            let p99 = percentile(&times, 0.99);
            if page == "/healthz" {
                base_p99 = p99;
            }
            let label: String = page.chars().take(34).collect();
            println!(
                "   {label:<34} {:>9} {:>9} {:>9} {:>9.1}{}",
                ms(percentile(&times, 0.5)),
                ms(p99),
                ms(times[times.len() - 1]),
                size as f64 / 1024.0,
                if page == "/healthz" {
                    String::from("   (baseline)")
                } else {
                    format!(
                        "   p99 {:.1}x baseline",
                        p99.as_secs_f64() / base_p99.as_secs_f64().max(1e-9)
                    )
                }
            );
        }
        println!("   goal: every page p99 <= 50 ms");
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// The `lgmesh` binary built beside this one.
fn node_binary() -> Result<PathBuf> {
    let bin = std::env::current_exe()?.with_file_name("lgmesh");
    if !bin.exists() {
        bail!(
            "{} not found: build it first (cargo build --release)",
            bin.display()
        );
    }
    Ok(bin)
}

/// `lgmesh run` on `dir`, on ports the system picks, silent.
fn spawn_node(bin: &Path, dir: &Path) -> Result<std::process::Child> {
    Ok(std::process::Command::new(bin)
        .args([
            "run",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?)
}

/// Waits until the node of `data` answers a gRPC `Info` (its address is in
/// `node.json`), polling every 2 ms until `limit` after `t`; its gRPC address.
async fn serving(
    data: &lgmesh::datadir::DataDir,
    t: Instant,
    limit: Duration,
) -> Option<std::net::SocketAddr> {
    loop {
        if let Ok(text) = std::fs::read_to_string(data.node_json())
            && let Ok(r) = serde_json::from_str::<lgmesh::datadir::Running>(&text)
            && let Ok(mut c) =
                v1::node_client::NodeClient::connect(format!("http://{}", r.grpc)).await
            && c.info(v1::InfoRequest {}).await.is_ok()
        {
            return Some(r.grpc);
        }
        if t.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
