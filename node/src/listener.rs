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

use crate::metrics::{ConnRefusal, Metrics, TlsFailure};
use crate::tasks::Tasks;

/// TLS handshakes in progress at once, per listener; a connection beyond it is closed.
pub const MAX_HANDSHAKES: usize = 1024;
/// TLS handshakes in progress at once from one client (an IPv4 address, or an IPv6 /64:
/// one host has a whole /64), per listener.
pub const MAX_HANDSHAKES_PER_IP: usize = 32;
/// The longest a client may take to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Open connections per listener, in clear or TLS, handshake or not: each holds a file
/// descriptor and buffers, so the node's are never all taken by one listener.
pub const MAX_CONNECTIONS: usize = 1024;
/// Open connections from one client (as [`MAX_HANDSHAKES_PER_IP`]), per listener: a
/// council's whole office behind one NAT address fits; one machine cannot take all.
pub const MAX_CONNECTIONS_PER_IP: usize = 128;

/// One accepted connection: TCP, or TLS over TCP, with its places in the listener's
/// bounds, given back when it closes.
pub struct Conn {
    io: Io,
    _held: Held,
}

/// A connection's places: in the listener's count, and in its client's.
struct Held {
    _all: tokio::sync::OwnedSemaphorePermit,
    _client: Slot,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.io.fmt(f)
    }
}

/// The stream itself.
#[derive(Debug)]
enum Io {
    /// In clear.
    Plain(TcpStream),
    /// TLS, handshake done.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match &self.io {
            Io::Plain(s) => s,
            Io::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
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
    let open = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let open_by_client = PerClient::new(MAX_CONNECTIONS_PER_IP);
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let shaking_by_client = PerClient::new(MAX_HANDSHAKES_PER_IP);
    let mut last_warned: Option<std::time::Instant> = None;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = tasks.stopping() => return,
            _ = tx.closed() => return,
        };
        let (tcp, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, most likely: wait rather than spin, and say so
                // once a minute, not ten times a second.
                metrics.connection_refused(which, ConnRefusal::AcceptFailed);
                if last_warned.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    tracing::warn!(?which, "accepting a connection failed: {e}");
                    last_warned = Some(std::time::Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(all) = open.clone().try_acquire_owned() else {
            metrics.connection_refused(which, ConnRefusal::Full);
            continue;
        };
        let Some(client) = open_by_client.take(addr.ip()) else {
            metrics.connection_refused(which, ConnRefusal::Client);
            continue;
        };
        let held = Held {
            _all: all,
            _client: client,
        };
        let _ = tcp.set_nodelay(true);
        let Some(acceptor) = &tls else {
            let conn = Conn {
                io: Io::Plain(tcp),
                _held: held,
            };
            if tx.send((conn, addr)).await.is_err() {
                return;
            }
            continue;
        };
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            metrics.tls_failed(which, TlsFailure::Busy);
            continue;
        };
        let Some(shaking) = shaking_by_client.take(addr.ip()) else {
            metrics.tls_failed(which, TlsFailure::Busy);
            continue;
        };
        let (acceptor, tx, metrics, stop) =
            (acceptor.clone(), tx.clone(), metrics.clone(), tasks.clone());
        tasks.spawn(async move {
            let handshake_places = (permit, shaking);
            let shake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
            let conn = tokio::select! {
                r = shake => r,
                _ = stop.stopping() => return,
            };
            drop(handshake_places);
            match conn {
                Ok(Ok(s)) => {
                    let conn = Conn {
                        io: Io::Tls(Box::new(s)),
                        _held: held,
                    };
                    let _ = tx.send((conn, addr)).await;
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

/// Whom a bound per client counts against: an IPv4 address (IPv4-mapped IPv6 as
/// IPv4), or an IPv6 /64, which one host or one customer of an ISP holds whole.
fn client_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[8..].fill(0);
            IpAddr::V6(o.into())
        }
        v4 => v4,
    }
}

/// Places in use by client ([`client_of`]), each client up to a limit. At most as many
/// entries as places the listener has, as each is held with one of those.
#[derive(Clone)]
struct PerClient(Arc<(Mutex<HashMap<IpAddr, usize>>, usize)>);

/// One place in a [`PerClient`], given back on drop.
struct Slot {
    of: PerClient,
    client: IpAddr,
}

impl PerClient {
    fn new(limit: usize) -> Self {
        Self(Arc::new((Mutex::default(), limit)))
    }

    /// A place for `ip`'s client, unless it has all its places already.
    fn take(&self, ip: IpAddr) -> Option<Slot> {
        let client = client_of(ip);
        let mut m = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = m.entry(client).or_insert(0);
        if *n >= self.0.1 {
            return None;
        }
        *n += 1;
        Some(Slot {
            of: self.clone(),
            client,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut m = self.of.0.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_addresses_and_ipv6_networks() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(client_of(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_of(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(
            client_of(ip("2001:db8:1:2:aaaa::1")),
            client_of(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            client_of(ip("2001:db8:1:2::1")),
            client_of(ip("2001:db8:1:3::1"))
        );
        let per = PerClient::new(2);
        let a = per.take(ip("2001:db8::1")).expect("first");
        let _b = per.take(ip("2001:db8::2")).expect("second");
        assert!(per.take(ip("2001:db8::3")).is_none(), "the /64 is full");
        assert!(per.take(ip("192.0.2.1")).is_some(), "another client");
        drop(a);
        assert!(per.take(ip("2001:db8::3")).is_some(), "a place came back");
    }
}
