//! The driver's UDP socket: batched receive (`recvmmsg` + GRO) and segmented send (GSO) through
//! `quinn-udp`, so a full congestion window costs a few system calls instead of one per packet.
//! IPv4 only, like dht-rpc. An optional loss shim drops a share of datagrams in both directions
//! (tests and benchmarks of UDX under loss); it is off unless asked for.

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Mutex;

use crate::split_mix::SplitMix;

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams (or GRO buffers) read per receive call.
const RECV_SLOTS: usize = 32;
/// Size of one receive buffer: large enough for a GRO batch of UDX packets.
const RECV_BUF: usize = 64 * 1024;
/// Kernel socket buffers: a few congestion windows of UDX packets.
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// Drops datagrams at random, independently per datagram and direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossShim {
    /// Probability in `[0, 1]` that a datagram is dropped.
    pub rate: f64,
    /// Seed of the shim's own generator (runs are repeatable per seed).
    pub seed: u64,
}

/// A bound UDP socket with batched I/O.
pub struct BatchSocket {
    io: UdpSocket,
    state: UdpSocketState,
    /// Rate and generator (behind a mutex so the socket is `Sync`: the driver's future is sent
    /// across threads).
    loss: Option<(f64, Mutex<SplitMix>)>,
}

/// Datagrams read by one [`BatchSocket::recv`] call.
pub struct RecvBatch {
    bufs: Vec<Vec<u8>>,
    meta: Vec<RecvMeta>,
    filled: usize,
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch {
            bufs: vec![vec![0; RECV_BUF]; RECV_SLOTS],
            meta: vec![RecvMeta::default(); RECV_SLOTS],
            filled: 0,
        }
    }
}

impl RecvBatch {
    /// Every datagram of the batch with its IPv4 source, GRO buffers split into datagrams.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddrV4, &[u8])> {
        self.meta[..self.filled].iter().zip(&self.bufs).flat_map(|(meta, buf)| {
            let from = match meta.addr {
                SocketAddr::V4(v4) => Some(v4),
                SocketAddr::V6(v6) => v6.ip().to_ipv4_mapped().map(|ip| SocketAddrV4::new(ip, v6.port())),
            };
            let data = &buf[..meta.len.min(buf.len())];
            let stride = meta.stride.max(1);
            from.into_iter().flat_map(move |from| data.chunks(stride).map(move |d| (from, d)))
        })
    }
}

impl BatchSocket {
    /// Binds `addr` (port 0 = any free port).
    pub fn bind(addr: SocketAddrV4) -> io::Result<Self> {
        let std = std::net::UdpSocket::bind(addr)?;
        std.set_nonblocking(true)?;
        let state = UdpSocketState::new((&std).into())?;
        // Best effort: a small buffer only costs throughput.
        let _ = state.set_send_buffer_size((&std).into(), SOCKET_BUFFER);
        let _ = state.set_recv_buffer_size((&std).into(), SOCKET_BUFFER);
        Ok(BatchSocket { io: UdpSocket::from_std(std)?, state, loss: None })
    }

    /// Turns the loss shim on (see [`LossShim`]).
    pub fn set_loss(&mut self, shim: LossShim) {
        self.loss = Some((shim.rate.clamp(0.0, 1.0), Mutex::new(SplitMix::new(shim.seed))));
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        match self.io.local_addr()? {
            SocketAddr::V4(v4) => Ok(v4),
            SocketAddr::V6(_) => Err(io::Error::other("bound to an IPv6 address")),
        }
    }

    /// How many equal-size datagrams one [`BatchSocket::send`] may carry.
    pub fn max_segments(&self) -> usize {
        self.state.max_gso_segments().max(1)
    }

    /// Waits for datagrams and reads a batch into `batch`.
    pub async fn recv(&self, batch: &mut RecvBatch) -> io::Result<()> {
        loop {
            self.io.readable().await?;
            let mut slices: Vec<IoSliceMut<'_>> = batch.bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            let result = self.io.try_io(Interest::READABLE, || {
                self.state.recv((&self.io).into(), &mut slices, &mut batch.meta)
            });
            match result {
                Ok(n) => {
                    batch.filled = n;
                    if self.loss.is_some() {
                        self.drop_received(batch);
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                // ICMP errors of earlier sends (port unreachable) say nothing about this socket.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends `contents` to `to`: one datagram, or several of `segment` bytes each (the last may
    /// be shorter) when `segment` is given. Waits while the socket buffer is full. Errors for
    /// one destination (unreachable, too big) are returned, the socket stays usable.
    pub async fn send(&self, to: SocketAddrV4, contents: &[u8], segment: Option<usize>) -> io::Result<()> {
        if let Some((rate, _)) = &self.loss {
            let rate = *rate;
            let seg = segment.unwrap_or(contents.len()).max(1);
            for d in contents.chunks(seg) {
                if !self.coin(rate) {
                    self.send_one(to, d, None).await?;
                }
            }
            return Ok(());
        }
        self.send_one(to, contents, segment).await
    }

    async fn send_one(&self, to: SocketAddrV4, contents: &[u8], segment: Option<usize>) -> io::Result<()> {
        let transmit = Transmit {
            destination: SocketAddr::V4(to),
            ecn: None,
            contents,
            segment_size: segment.filter(|&s| s < contents.len()),
            src_ip: None,
        };
        loop {
            self.io.writable().await?;
            match self.io.try_io(Interest::WRITABLE, || self.state.try_send((&self.io).into(), &transmit)) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn drop_received(&self, batch: &mut RecvBatch) {
        let Some((rate, _)) = &self.loss else { return };
        let rate = *rate;
        // GRO buffers are kept or dropped whole: a burst loss, still random per buffer.
        let mut kept = 0;
        for i in 0..batch.filled {
            if !self.coin(rate) {
                batch.bufs.swap(kept, i);
                batch.meta.swap(kept, i);
                kept += 1;
            }
        }
        batch.filled = kept;
    }

    /// True with probability `rate` (never without a shim).
    fn coin(&self, rate: f64) -> bool {
        let Some((_, rng)) = &self.loss else { return false };
        rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).chance(rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn local() -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)
    }

    #[tokio::test]
    async fn segmented_sends_arrive_as_separate_datagrams() {
        let a = BatchSocket::bind(local()).expect("bind a");
        let b = BatchSocket::bind(local()).expect("bind b");
        let to = b.local_addr().expect("addr");
        let payload: Vec<u8> = (0..(3 * 1172 + 100)).map(|i| i as u8).collect();
        a.send(to, &payload, Some(1172)).await.expect("send");
        a.send(to, b"x", None).await.expect("send");
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut batch = RecvBatch::default();
        while got.len() < 5 {
            b.recv(&mut batch).await.expect("recv");
            got.extend(batch.datagrams().map(|(from, d)| {
                assert_eq!(from, a.local_addr().expect("a addr"));
                d.to_vec()
            }));
        }
        let lens: Vec<usize> = got.iter().map(Vec::len).collect();
        assert_eq!(lens, vec![1172, 1172, 1172, 100, 1]);
        assert_eq!(got[..4].concat(), payload);
    }

    #[tokio::test]
    async fn the_loss_shim_drops_about_its_rate() {
        let mut a = BatchSocket::bind(local()).expect("bind a");
        a.set_loss(LossShim { rate: 0.5, seed: 42 });
        let n = 2000;
        let dropped = (0..n).filter(|_| a.coin(0.5)).count();
        assert!((800..1200).contains(&dropped), "{dropped}");
        assert!(!(0..100).any(|_| a.coin(0.0)));
    }
}
