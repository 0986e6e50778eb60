//! TLS for the node's gRPC and HTTP listeners, with rustls: the certificate chain and
//! key named in `[tls]`, served to every new connection, and replaced without a restart
//! when the files change (a certbot or ACME renewal) or on SIGHUP.
//!
//! [`Certs`] holds what is served now. It is the listeners' certificate resolver, so a
//! reload swaps one `Arc` that the next handshake picks up; connections already open
//! keep theirs. A renewal that fails to load (a key written before its certificate, a
//! truncated file) leaves the current certificate in place, says why once, and is
//! tried again at the next check. [`crate::listener`] does the accepting.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};

use crate::metrics::Metrics;
use crate::tasks::Tasks;

/// The most a certificate or key file may hold: a chain is a few KiB; a larger file is
/// a mistake (the wrong path), not something to read into memory.
pub const MAX_PEM_BYTES: u64 = 256 * 1024;

/// The handshake's cryptography. One provider named explicitly: the build has more than
/// one, and rustls refuses to guess.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Where the certificate chain and its key are: `[tls]`'s `cert_file` and `key_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificates, the node's own first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
}

/// What a certificate says about itself that an operator needs: whom it names, and
/// until when it is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// The subject's names: DNS names and IP addresses from subjectAltName, or else the
    /// common name.
    pub names: Vec<String>,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
}

impl CertSummary {
    /// Days from `now` (Unix seconds) until the certificate expires; negative once it has.
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }
}

/// The certificate served now, and how to tell whether the files changed.
pub struct Certs {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
    /// SHA-256 of the two files' bytes as last loaded, and of the last pair that failed
    /// (so that one bad renewal is reported once, not at every check).
    seen: Mutex<Seen>,
    /// When the served certificate expires, Unix seconds.
    not_after: AtomicI64,
}

#[derive(Default)]
struct Seen {
    loaded: [u8; 32],
    failed: Option<[u8; 32]>,
}

impl std::fmt::Debug for Certs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certs").field("files", &self.files).finish()
    }
}

impl Certs {
    /// Loads the chain and key in `files`. An error names the file and what is wrong
    /// with it: missing, not PEM, no certificate, a key that does not match, a key
    /// others can read.
    pub fn load(files: TlsFiles) -> Result<Arc<Self>> {
        let (cert, key) = read_pair(&files)?;
        let (certified, summary) = parse(&files, &cert, &key)?;
        Ok(Arc::new(Self {
            current: RwLock::new(Arc::new(certified)),
            seen: Mutex::new(Seen {
                loaded: digest(&cert, &key),
                failed: None,
            }),
            not_after: AtomicI64::new(summary.not_after),
            files,
        }))
    }

    /// The files this serves from.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// When the certificate served now expires, Unix seconds.
    pub fn not_after(&self) -> i64 {
        self.not_after.load(Relaxed)
    }

    /// Reads the files again and, when they changed, serves what they hold from the
    /// next handshake on. `Ok(Some(summary))` when a new certificate was loaded,
    /// `Ok(None)` when nothing changed (or the same broken pair was already reported),
    /// `Err` when the new files cannot be served (the old certificate stays).
    pub fn reload(&self) -> Result<Option<CertSummary>> {
        let (cert, key) = read_pair(&self.files)?;
        let d = digest(&cert, &key);
        {
            let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            if seen.loaded == d || seen.failed == Some(d) {
                return Ok(None);
            }
        }
        // A renewal must be valid now: an expired or not-yet-valid certificate (a clock
        // gone wrong where it was made, an old file copied back) would make every
        // client refuse the node, where the current one still works.
        let parsed = parse(&self.files, &cert, &key).and_then(|(certified, summary)| {
            let now = now_secs();
            if now < summary.not_before || now > summary.not_after {
                bail!(
                    "tls.cert_file: {} is not valid now (valid from {} until {}, Unix seconds); not served",
                    self.files.cert.display(),
                    summary.not_before,
                    summary.not_after
                );
            }
            Ok((certified, summary))
        });
        match parsed {
            Ok((certified, summary)) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(certified);
                self.not_after.store(summary.not_after, Relaxed);
                let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
                *seen = Seen {
                    loaded: d,
                    failed: None,
                };
                Ok(Some(summary))
            }
            Err(e) => {
                self.seen
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .failed = Some(d);
                Err(e)
            }
        }
    }

    /// A server config that presents this certificate, offering `alpn` (`h2` for gRPC:
    /// gRPC clients insist on it; `http/1.1` for the web).
    pub fn server_config(self: &Arc<Self>, alpn: &[&[u8]]) -> Result<Arc<rustls::ServerConfig>> {
        let mut c = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow!("TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(c))
    }
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// Checks the files every `every`, and at once on SIGHUP, until the node stops; a new
/// certificate is served from the next connection. Counted in
/// `lgmesh_tls_reloads_total{result}`.
///
/// The SIGHUP handler is installed here, before the returned future first runs, so a
/// SIGHUP sent once the node says it serves is never taken for the default "hang up"
/// (which ends the process). Must be called inside the runtime.
pub fn watch(
    certs: Arc<Certs>,
    every: Duration,
    metrics: Arc<Metrics>,
    tasks: Tasks,
) -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    #[cfg(not(unix))]
    let hup = None::<()>;
    watching(certs, every, metrics, tasks, hup)
}

#[tracing::instrument(name = "tls", skip_all)]
async fn watching(
    certs: Arc<Certs>,
    every: Duration,
    metrics: Arc<Metrics>,
    tasks: Tasks,
    #[cfg(unix)] mut hup: Option<tokio::signal::unix::Signal>,
    #[cfg(not(unix))] _hup: Option<()>,
) {
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        tokio::select! {
            _ = tick.tick() => {}
            _ = hangup => tracing::info!("SIGHUP: checking the TLS certificate"),
            _ = tasks.stopping() => return,
        }
        let c = certs.clone();
        let Ok(r) = tokio::task::spawn_blocking(move || c.reload()).await else {
            return;
        };
        match r {
            Ok(None) => {}
            Ok(Some(s)) => {
                metrics.tls_reloaded(true, s.not_after);
                tracing::info!(
                    names = %s.names.join(", "),
                    days_left = s.days_left(now_secs()),
                    "serving a renewed TLS certificate"
                );
            }
            Err(e) => {
                metrics.tls_reloaded(false, certs.not_after());
                tracing::warn!("{e:#}; still serving the previous certificate (will retry)");
            }
        }
    }
}

/// A client config for reaching a node over TLS with ALPN `h2` (gRPC): the node's
/// certificate is checked against the CA certificates in the PEM file `ca`, or, without
/// one, against the system's roots.
pub fn client_config(ca: Option<&Path>) -> Result<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow!("TLS: {e}"))?;
    let mut c = match ca {
        Some(path) => {
            let pem = read_bounded(path, "--ca")?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| anyhow!("--ca: {} is not PEM: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| anyhow!("--ca: {}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                bail!("--ca: {} holds no CERTIFICATE block", path.display());
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder
                .with_platform_verifier()
                .map_err(|e| anyhow!("cannot read the system's CA certificates: {e}"))?
                .with_no_client_auth()
        }
    };
    c.alpn_protocols = vec![b"h2".to_vec()];
    Ok(c)
}

/// What the certificate in `files` says of itself, after checking that the pair loads
/// (for `lgmesh doctor`, and the log at start).
pub fn inspect(files: &TlsFiles) -> Result<CertSummary> {
    let (cert, key) = read_pair(files)?;
    parse(files, &cert, &key).map(|(_, s)| s)
}

/// Now, Unix seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn digest(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((cert.len() as u64).to_be_bytes());
    h.update(cert);
    h.update(key);
    h.finalize().into()
}

fn read_pair(files: &TlsFiles) -> Result<(Vec<u8>, Vec<u8>)> {
    check_key_permissions(&files.key)?;
    Ok((
        read_bounded(&files.cert, "tls.cert_file")?,
        read_bounded(&files.key, "tls.key_file")?,
    ))
}

fn read_bounded(path: &Path, what: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    // Not a FIFO or a device: opening one could block the node for ever.
    let meta = std::fs::metadata(path)
        .with_context(|| format!("{what}: cannot open {}", path.display()))?;
    if !meta.is_file() {
        bail!("{what}: {} is not a regular file", path.display());
    }
    let f = std::fs::File::open(path)
        .with_context(|| format!("{what}: cannot open {}", path.display()))?;
    let mut bytes = Vec::new();
    f.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{what}: cannot read {}", path.display()))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        bail!(
            "{what}: {} is larger than {} KiB; is it the right file?",
            path.display(),
            MAX_PEM_BYTES / 1024
        );
    }
    Ok(bytes)
}

/// The key may be readable by its group (a `ssl-cert` group, as Debian sets up), never
/// by everyone.
fn check_key_permissions(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .with_context(|| format!("tls.key_file: cannot open {}", path.display()))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o007 != 0 {
            bail!(
                "tls.key_file: {} is open to every user (mode {mode:o}); run: chmod o-rwx {} (the node's group may read it: chgrp lgmesh, chmod 0640)",
                path.display(),
                path.display()
            );
        }
        if mode & 0o020 != 0 {
            bail!(
                "tls.key_file: {} can be changed by its group (mode {mode:o}); run: chmod g-w {}",
                path.display(),
                path.display()
            );
        }
    }
    Ok(())
}

fn parse(files: &TlsFiles, cert: &[u8], key: &[u8]) -> Result<(CertifiedKey, CertSummary)> {
    let cert_path = files.cert.display();
    let key_path = files.key.display();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| anyhow!("tls.cert_file: {cert_path} is not PEM: {e}"))?;
    let Some(leaf) = chain.first() else {
        bail!("tls.cert_file: {cert_path} holds no CERTIFICATE block");
    };
    let summary = summarise(leaf).with_context(|| format!("tls.cert_file: {cert_path}"))?;
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
        anyhow!(
            "tls.key_file: {key_path} holds no private key in PEM (PKCS#8, SEC1 or PKCS#1): {e}"
        )
    })?;
    let signer = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| anyhow!("tls.key_file: {key_path}: {e}"))?;
    let certified = CertifiedKey::new(chain, signer);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => bail!(
            "tls.key_file: {key_path} is not the key of the certificate in {cert_path} (a renewal may have replaced one file but not yet the other)"
        ),
    }
    Ok((certified, summary))
}

fn summarise(leaf: &CertificateDer<'_>) -> Result<CertSummary> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, x) = X509Certificate::from_der(leaf.as_ref())
        .map_err(|e| anyhow!("the first certificate cannot be read: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = x.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push((*d).to_owned()),
                GeneralName::IPAddress(ip) => {
                    let ip = match ip.len() {
                        4 => <[u8; 4]>::try_from(*ip).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*ip).ok().map(std::net::IpAddr::from),
                        _ => None,
                    };
                    names.extend(ip.map(|ip| ip.to_string()));
                }
                _ => {}
            }
        }
    }
    if names.is_empty() {
        names.extend(
            x.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok().map(str::to_owned)),
        );
    }
    Ok(CertSummary {
        names,
        not_after: x.validity().not_after.timestamp(),
        not_before: x.validity().not_before.timestamp(),
    })
}
