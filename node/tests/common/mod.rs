//! Helpers for tests that drive the real `lgmesh` binary.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_lgmesh");

/// The publisher key in the data dir `dir`.
pub fn publisher_key(dir: &Path) -> lgmesh_protocol::identity::SecretKey {
    let hex = std::fs::read_to_string(dir.join("publisher.key")).expect("key");
    let mut seed = [0u8; 32];
    hex::decode_to_slice(hex.trim(), &mut seed).expect("hex");
    lgmesh_protocol::identity::SecretKey::from_seed(&seed)
}

/// The admin token in the data dir `dir`.
pub fn token(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("admin.token"))
        .expect("token")
        .trim()
        .to_owned()
}

/// `msg` with the admin token of `dir`, for a write over TCP.
pub fn authed<T>(dir: &Path, msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token(dir)).parse().expect("ascii"),
    );
    r
}

/// A Submit request for a signed manifest.
pub fn submit_of(s: &lgmesh_protocol::envelope::SignedManifest) -> lgmesh_proto::v1::SubmitRequest {
    lgmesh_proto::v1::SubmitRequest {
        envelope: Some(lgmesh_proto::v1::Envelope {
            body: s.body.clone(),
            signature: s.signature.to_vec(),
        }),
    }
}

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Runs `lgmesh ARGS --data-dir DIR` to completion.
pub fn lgmesh(dir: &Path, args: &[&str]) -> Output {
    lgmesh_via(&[], dir, args)
}

/// The binary, run through `wrapper` (e.g. `ip netns exec NS`) when it is not empty.
fn command(wrapper: &[&str]) -> Command {
    match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(BIN);
            c
        }
        None => Command::new(BIN),
    }
}

/// As [`lgmesh`], through `wrapper` (see [`command`]).
pub fn lgmesh_via(wrapper: &[&str], dir: &Path, args: &[&str]) -> Output {
    command(wrapper)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("LGMESH_TOKEN")
        .env_remove("LGMESH_GRPC")
        .output()
        .expect("run lgmesh")
}

/// As [`lgmesh`], asserting success; returns stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    ok_via(&[], dir, args)
}

/// As [`ok`], through `wrapper` (see [`command`]).
pub fn ok_via(wrapper: &[&str], dir: &Path, args: &[&str]) -> String {
    let out = lgmesh_via(wrapper, dir, args);
    assert!(
        out.status.success(),
        "lgmesh {wrapper:?} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// As [`lgmesh`], asserting failure with one line on stderr; returns it.
pub fn fails(dir: &Path, args: &[&str]) -> String {
    let out = lgmesh(dir, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "lgmesh {args:?} should fail, printed {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    err
}

/// A running `lgmesh run`, killed on drop.
pub struct Node {
    pub child: Child,
    pub grpc: String,
    pub http: String,
    pub dir: PathBuf,
}

impl Node {
    pub fn start(dir: &Path) -> Node {
        Node::start_with(dir, &[])
    }

    /// Starts `lgmesh run` on loopback ports chosen by the OS, on the test network,
    /// with extra flags (e.g. `--bootstrap`).
    pub fn start_with(dir: &Path, extra: &[&str]) -> Node {
        Node::spawn(dir, extra, Stdio::null())
    }

    /// As [`Node::start_with`], with the node's stderr written to `log`.
    pub fn start_logged(dir: &Path, extra: &[&str], log: &Path) -> Node {
        let file = std::fs::File::create(log).expect("create the log file");
        Node::spawn(dir, extra, Stdio::from(file))
    }

    fn spawn(dir: &Path, extra: &[&str], stderr: Stdio) -> Node {
        let mut args = vec!["--listen", "/ip4/127.0.0.1/tcp/0", "--network", "e2e-test"];
        args.extend_from_slice(extra);
        Node::run_via(&[], dir, &args, stderr)
    }

    /// `lgmesh run` with gRPC and HTTP on loopback ports the OS picks (unless `args`
    /// gives `--grpc-addr` or `--http-addr`), `args`, and `--data-dir DIR`, through
    /// `wrapper` (see [`command`]); returns once it serves.
    pub fn run_via(wrapper: &[&str], dir: &Path, args: &[&str], stderr: Stdio) -> Node {
        let _ = std::fs::remove_file(dir.join("node.json"));
        let mut cmd = command(wrapper);
        cmd.arg("run");
        for flag in ["--grpc-addr", "--http-addr"] {
            if !args.contains(&flag) {
                cmd.args([flag, "127.0.0.1:0"]);
            }
        }
        let child = cmd
            .args(args)
            .arg("--data-dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn lgmesh run");
        // Owned by a Node at once, so a failed start still kills and reaps it.
        let mut node = Node {
            child,
            grpc: String::new(),
            http: String::new(),
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(dir.join("node.json"))
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                node.grpc = v["grpc"].as_str().expect("grpc").to_owned();
                node.http = v["http"].as_str().expect("http").to_owned();
                return node;
            }
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("lgmesh run exited with {status} before serving");
            }
            assert!(Instant::now() < deadline, "node did not start in 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// A gRPC channel to the node, for the services without a generated lgmesh client
    /// (health, reflection).
    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(self.url())
            .expect("uri")
            .connect()
            .await
            .expect("connect")
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Ctrl-C, as [`interrupt`].
    pub fn interrupt(&mut self) -> std::process::ExitStatus {
        interrupt(&mut self.child)
    }

    /// A plain HTTP GET; returns (status line, body).
    pub fn http_get(&self, path: &str) -> (String, String) {
        let (status, _, body) = self.http_get_full(path);
        (status, body)
    }

    /// A plain HTTP GET; returns (status line, the headers lower-cased, body).
    pub fn http_get_full(&self, path: &str) -> (String, String, String) {
        let mut s = std::net::TcpStream::connect(&self.http).expect("connect http");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut buf = String::new();
        s.read_to_string(&mut buf).expect("read");
        let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
        let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
        (status.to_owned(), headers.to_lowercase(), body.to_owned())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `lgmesh init` for Guildford in a fresh temp dir.
pub fn init_guildford() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    ok(
        &tmp.path().join("node"),
        &[
            "init",
            "--org",
            "gss:E07000209",
            "--name",
            "Guildford Borough Council",
            "--type",
            "district",
            "--website",
            "https://www.guildford.gov.uk",
        ],
    );
    tmp
}

/// The first full multiaddr (with `/p2p/`) the node in `dir` listens on.
pub fn listen_addr(dir: &Path) -> String {
    json(&ok(dir, &["info", "--json"]))["listenAddrs"][0]
        .as_str()
        .expect("listen address")
        .to_owned()
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// Polls `f` every 200 ms until it gives a value; panics naming `what` after 60 s.
pub fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sets `key = value` (a TOML value) in `dir/lgmesh.toml`, where the line for `key` is.
pub fn set_config(dir: &Path, key: &str, value: &str) {
    let toml = dir.join("lgmesh.toml");
    let text = std::fs::read_to_string(&toml).expect("config");
    let prefix = format!("{key} =");
    assert!(
        text.lines().any(|l| l.starts_with(&prefix)),
        "no {key} in {}",
        toml.display()
    );
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(&prefix) {
                format!("{key} = {value}")
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(&toml, text.join("\n")).expect("write config");
}

/// A tiny web server on 127.0.0.1 for `/.well-known/lgmesh.json`: answers every request
/// with the body set (404 while it is empty). Runs until the test process ends.
pub struct WellKnown {
    pub port: u16,
    body: std::sync::Arc<std::sync::Mutex<String>>,
}

impl WellKnown {
    pub fn start() -> WellKnown {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let body = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let b = body.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let body = b.lock().expect("lock").clone();
                let status = if body.is_empty() {
                    "404 Not Found"
                } else {
                    "200 OK"
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        WellKnown { port, body }
    }

    /// Serves `{"org": org, "publishers": keys}` from now on.
    pub fn serve(&self, org: &str, keys: &[&str]) {
        *self.body.lock().expect("lock") =
            serde_json::json!({ "org": org, "publishers": keys }).to_string();
    }
}

/// Ctrl-C (SIGINT) to `child`, then waits up to 60 s for it to exit; returns how it did.
pub fn interrupt(child: &mut Child) -> std::process::ExitStatus {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -INT failed");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not stop in 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The lines `out` (a child's stdout or stderr) prints, as they come, read on a thread.
pub fn lines_of(out: impl Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(out)).map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// A child process killed (SIGKILL) and reaped on drop, so a failed test leaves nothing
/// running.
pub struct Reaped(pub Child);

impl Reaped {
    /// Spawns `cmd` with its stdout read line by line (stderr dropped).
    pub fn reading(cmd: &mut Command) -> (Reaped, std::sync::mpsc::Receiver<String>) {
        let mut child = Reaped(
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn lgmesh"),
        );
        let rx = lines_of(child.0.stdout.take().expect("stdout"));
        (child, rx)
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
