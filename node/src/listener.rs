//! Accepting TCP connections for gRPC and HTTP, in clear or over TLS, as one stream of
//! [`Conn`] that both servers take.
//!
//! A TLS handshake is a round trip or two that a slow or hostile client can stretch out,
//! so it never runs in the accept loop: each runs in a task of its own, at most
//! [`MAX_HANDSHAKES`] at once ([`MAX_HANDSHAKES_PER_IP`] from one address, so that one
//! slow client cannot take them all) and for at most [`HANDSHAKE_TIMEOUT`]; a
//! connection over any bound is closed and counted
//! (`lgmesh_tls_handshakes_failed_total{reason}`).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};

use crate::metrics::{Metrics, TlsFailure};
use crate::tasks::Tasks;

/// TLS handshakes in progress at once, per listener; a connection beyond it is closed.
pub const MAX_HANDSHAKES: usize = 128;
/// TLS handshakes in progress at once from one IP address, per listener.
pub const MAX_HANDSHAKES_PER_IP: usize = 8;
/// The longest a client may take to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One accepted connection: TCP, or TLS over TCP.
#[derive(Debug)]
pub enum Conn {
    /// In clear.
    Plain(TcpStream),
    /// TLS, handshake done.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The caller's and our addresses, as tonic hands them to a call (`Request::remote_addr`).
impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::TcpConnectInfo {
            local_addr: self.tcp().local_addr().ok(),
            remote_addr: self.tcp().peer_addr().ok(),
        }
    }
}

/// Which server a listener feeds: for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The gRPC API.
    Grpc,
    /// The web interface, health and metrics.
    Http,
}

/// Accepted connections, ready for a server: handshakes done when TLS.
pub struct Incoming {
    rx: mpsc::Receiver<(Conn, SocketAddr)>,
    local: SocketAddr,
    tls: bool,
}

impl Incoming {
    /// Accepts on `listener` until the node stops, handing out connections in clear, or
    /// over TLS with `tls`. The accept loop and the handshakes are tasks of `tasks`.
    pub fn start(
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        which: Which,
        metrics: Arc<Metrics>,
        tasks: &Tasks,
    ) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let secure = tls.is_some();
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        tasks.spawn(accept_loop(
            listener,
            acceptor,
            tx,
            which,
            metrics,
            tasks.clone(),
        ));
        Ok(Self {
            rx,
            local,
            tls: secure,
        })
    }

    /// The address bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Whether connections come over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The connections as the stream tonic's `serve_with_incoming_shutdown` takes.
    pub fn into_stream(self) -> impl tokio_stream::Stream<Item = io::Result<Conn>> {
        tokio_stream::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(self.rx), |c| {
            Ok(c.0)
        })
    }
}

impl axum::serve::Listener for Incoming {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop ends only when the node stops, and then the server's
            // graceful shutdown has fired already.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    tx: mpsc::Sender<(Conn, SocketAddr)>,
    which: Which,
    metrics: Arc<Metrics>,
    tasks: Tasks,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let per_ip = Arc::new(PerIp::default());
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = tasks.stopping() => return,
            _ = tx.closed() => return,
        };
        let (tcp, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, most likely: wait rather than spin.
                tracing::warn!(?which, "accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let Some(acceptor) = &tls else {
            if tx.send((Conn::Plain(tcp), addr)).await.is_err() {
                return;
            }
            continue;
        };
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            metrics.tls_failed(which, TlsFailure::Busy);
            continue;
        };
        let Some(ip_slot) = PerIp::take(&per_ip, addr.ip()) else {
            metrics.tls_failed(which, TlsFailure::Busy);
            continue;
        };
        let (acceptor, tx, metrics, stop) =
            (acceptor.clone(), tx.clone(), metrics.clone(), tasks.clone());
        tasks.spawn(async move {
            let _permit = (permit, ip_slot);
            let shake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
            let conn = tokio::select! {
                r = shake => r,
                _ = stop.stopping() => return,
            };
            match conn {
                Ok(Ok(s)) => {
                    let _ = tx.send((Conn::Tls(Box::new(s)), addr)).await;
                }
                Ok(Err(e)) => {
                    metrics.tls_failed(which, TlsFailure::Handshake);
                    tracing::debug!(?which, peer = %addr, "TLS handshake failed: {e}");
                }
                Err(_) => metrics.tls_failed(which, TlsFailure::Timeout),
            }
        });
    }
}

/// Handshakes in progress by client address. At most [`MAX_HANDSHAKES`] entries, as
/// each holds one of the listener's permits.
#[derive(Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

/// One handshake's place in [`PerIp`], given back on drop.
struct IpSlot {
    of: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// A place for a handshake from `ip`, unless it has [`MAX_HANDSHAKES_PER_IP`] already.
    fn take(this: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut m = this.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = m.entry(ip).or_insert(0);
        if *n >= MAX_HANDSHAKES_PER_IP {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            of: this.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = self.of.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}
