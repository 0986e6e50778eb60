//! Framing for the sync protocol: one length-prefixed protobuf message per direction
//! per stream, with hard size bounds on what is read.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use lgmesh_proto::v1::{SyncRequest, SyncResponse};
use libp2p::StreamProtocol;
use prost::Message;

/// Largest request a node reads: a negentropy frame or a list of ids.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Headroom over `max_response_bytes` for framing and the negentropy frame.
pub const RESPONSE_OVERHEAD: usize = 64 * 1024;

/// The request-response codec. `max_response` bounds what this node will read back.
#[derive(Debug, Clone)]
pub struct SyncCodec {
    max_response: usize,
}

impl SyncCodec {
    /// A codec that reads responses up to `max_response_bytes` (+ overhead).
    pub fn new(max_response_bytes: usize) -> Self {
        Self {
            max_response: max_response_bytes + RESPONSE_OVERHEAD,
        }
    }
}

/// Reads one unsigned LEB128 length, then exactly that many bytes, refusing more than `max`.
pub async fn read_frame<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    max: usize,
) -> io::Result<Vec<u8>> {
    let mut len: u64 = 0;
    for i in 0..10 {
        let mut b = [0u8; 1];
        io.read_exact(&mut b).await?;
        len |= u64::from(b[0] & 0x7f) << (7 * i);
        if b[0] & 0x80 == 0 {
            break;
        }
        if i == 9 {
            return Err(invalid("frame length: varint too long"));
        }
    }
    let len = usize::try_from(len).map_err(|_| invalid("frame length: too large"))?;
    if len > max {
        return Err(invalid(format!(
            "frame length: {len} bytes over the {max}-byte limit"
        )));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Writes one length-prefixed frame and closes the writing side.
pub async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, data: &[u8]) -> io::Result<()> {
    let mut head = Vec::with_capacity(10);
    let mut n = data.len() as u64;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            head.push(b);
            break;
        }
        head.push(b | 0x80);
    }
    io.write_all(&head).await?;
    io.write_all(data).await?;
    io.close().await
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<SyncRequest> {
        // A request that is too large or does not decode becomes an empty request, so
        // that the node sees who sent it (request-response does not report read errors
        // of inbound requests) and can refuse it and count it against the peer.
        match read_frame(io, MAX_REQUEST_BYTES).await {
            Ok(buf) => Ok(SyncRequest::decode(buf.as_slice()).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(SyncRequest::default()),
            Err(e) => Err(e),
        }
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<SyncResponse> {
        let buf = read_frame(io, self.max_response).await?;
        SyncResponse::decode(buf.as_slice()).map_err(|e| invalid(format!("sync response: {e}")))
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: SyncRequest,
    ) -> io::Result<()> {
        write_frame(io, &req.encode_to_vec()).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: SyncResponse,
    ) -> io::Result<()> {
        write_frame(io, &res.encode_to_vec()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn frames_round_trip_and_refuse_oversize() {
        for len in [0usize, 1, 127, 128, 300, 70_000] {
            let data = vec![7u8; len];
            let mut out = futures::io::Cursor::new(Vec::new());
            block(write_frame(&mut out, &data)).expect("write");
            let mut inp = futures::io::Cursor::new(out.into_inner());
            assert_eq!(block(read_frame(&mut inp, 70_000)).expect("read"), data);
        }
        let mut out = futures::io::Cursor::new(Vec::new());
        block(write_frame(&mut out, &[0u8; 1000])).expect("write");
        let mut inp = futures::io::Cursor::new(out.into_inner());
        let e = block(read_frame(&mut inp, 999)).expect_err("over the limit");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        // An endless varint is refused without reading on.
        let mut inp = futures::io::Cursor::new(vec![0xffu8; 64]);
        assert!(block(read_frame(&mut inp, usize::MAX)).is_err());
        // A truncated frame is an error, not a short read.
        let mut inp = futures::io::Cursor::new(vec![10u8, 1, 2]);
        assert!(block(read_frame(&mut inp, 100)).is_err());
    }
}
