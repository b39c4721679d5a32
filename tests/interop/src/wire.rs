//! The `wire.data` message encoding of proofs, as JS replicators send them.

use hyperwasm::encoding::{put_buffer, put_optional_buffer, put_uint, Compact};
use hyperwasm::tree::{Node, Proof};

/// `wire.data` encoding (hypercore `lib/messages.js`) of `{request, ...proof, manifest}`.
pub fn data_wire(request: u64, p: &Proof, manifest: Option<&[u8]>) -> Vec<u8> {
    fn node_array(out: &mut Vec<u8>, ns: &[Node]) {
        put_uint(out, ns.len() as u64);
        for n in ns {
            n.encode(out);
        }
    }
    let flags = u64::from(p.block.is_some())
        | u64::from(p.hash.is_some()) << 1
        | u64::from(p.seek.is_some()) << 2
        | u64::from(p.upgrade.is_some()) << 3
        | u64::from(manifest.is_some()) << 4;
    let mut out = Vec::new();
    put_uint(&mut out, flags);
    put_uint(&mut out, request);
    put_uint(&mut out, p.fork);
    if let Some(b) = &p.block {
        put_uint(&mut out, b.index);
        put_buffer(&mut out, &b.value);
        node_array(&mut out, &b.nodes);
    }
    if let Some(h) = &p.hash {
        put_uint(&mut out, h.index);
        node_array(&mut out, &h.nodes);
    }
    if let Some(s) = &p.seek {
        put_uint(&mut out, s.bytes);
        node_array(&mut out, &s.nodes);
    }
    if let Some(u) = &p.upgrade {
        put_uint(&mut out, u.start);
        put_uint(&mut out, u.length);
        node_array(&mut out, &u.nodes);
        node_array(&mut out, &u.additional_nodes);
        put_optional_buffer(&mut out, Some(&u.signature));
    }
    if let Some(m) = manifest {
        out.extend_from_slice(m);
    }
    out
}
