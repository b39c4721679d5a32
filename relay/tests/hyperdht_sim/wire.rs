//! Hand-made dht-rpc datagrams from fake peers, and reading what the nodes sent back.

use crate::net::Net;
use hyperwasm_relay::dht_rpc::messages::{decode, Message, RequestMessage, ResponseMessage};
use std::net::{Ipv4Addr, SocketAddrV4};

/// An address no node has: datagrams to it only show up in the tap.
pub fn fake(i: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(30, 0, 0, i), 5000 + i as u16)
}

/// A request from `from` to node `to`.
#[allow(clippy::too_many_arguments)]
pub fn request(
    net: &mut Net,
    from: SocketAddrV4,
    to: usize,
    tid: u16,
    command: u64,
    target: Option<[u8; 32]>,
    token: Option<[u8; 32]>,
    value: Option<Vec<u8>>,
) {
    let msg =
        RequestMessage { tid, to: net.addr(to), id: None, token, internal: false, command, target, value };
    net.inject(from, to, msg.encode());
}

/// Responses sent to `to` with transaction id `tid`.
pub fn responses(net: &Net, to: SocketAddrV4, tid: u16) -> Vec<ResponseMessage> {
    net.tap
        .iter()
        .filter(|t| t.to == to)
        .filter_map(|t| match decode(&t.bytes) {
            Ok(Message::Response(r)) if r.tid == tid => Some(r),
            _ => None,
        })
        .collect()
}

/// Requests sent to `to` with transaction id `tid`.
pub fn requests(net: &Net, to: SocketAddrV4, tid: u16) -> Vec<RequestMessage> {
    net.tap
        .iter()
        .filter(|t| t.to == to)
        .filter_map(|t| match decode(&t.bytes) {
            Ok(Message::Request(r)) if r.tid == tid => Some(r),
            _ => None,
        })
        .collect()
}
