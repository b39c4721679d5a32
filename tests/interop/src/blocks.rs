//! The block pattern of the Rust cores: which block holds what, and its JSON form.

use hyperwasm::crypto::blake2b;
use hyperwasm::testing::fixtures::{blake2b_ctr, BlockJson};

/// Blocks above this size are written as a generator description (as the JS fixtures do).
pub const INLINE_LIMIT: usize = 65536;

fn block_seed(fork: u64, index: u64) -> Vec<u8> {
    format!("hyperwasm-rust-block-{fork}-{index}").into_bytes()
}

/// How a block is made.
enum Content {
    Empty,
    Zeros(usize),
    Ctr(usize),
}

fn content_of(fork: u64, index: u64) -> Content {
    match (fork, index) {
        // runs of empty blocks, and single ones
        (0, 0 | 4 | 17 | 18 | 19 | 37) | (1, 43 | 47 | 48) => Content::Empty,
        // runs of blocks holding only 0x00 bytes
        (0, 21..=26) => Content::Zeros([1, 2, 31, 100, 1000, 4096][(index - 21) as usize]),
        (1, 50..=52) => Content::Zeros([16, 64, 512][(index - 50) as usize]),
        (0, 11) => Content::Ctr(1 << 20),
        (0, 1) => Content::Ctr(1),
        (0, 2) => Content::Ctr(7),
        (0, 3) => Content::Ctr(33),
        (0, 5) => Content::Ctr(65),
        (0, 6) => Content::Ctr(128),
        (0, 7) => Content::Ctr(1023),
        (0, 8) => Content::Ctr(1024),
        (0, 9) => Content::Ctr(1025),
        (0, 10) => Content::Ctr(8192),
        _ => {
            let h = blake2b(&block_seed(fork, index));
            Content::Ctr(usize::from(u16::from_le_bytes([h[0], h[1]])) % 3000 + 1)
        }
    }
}

pub(crate) fn make_block(fork: u64, index: u64) -> (Vec<u8>, BlockJson) {
    let seed = block_seed(fork, index);
    let data = match content_of(fork, index) {
        Content::Empty => Vec::new(),
        Content::Zeros(n) => vec![0u8; n],
        Content::Ctr(n) => blake2b_ctr(&seed, n),
    };
    let j = if data.len() > INLINE_LIMIT {
        BlockJson::generated(index, fork, &seed, &data)
    } else {
        BlockJson::inline(index, fork, &data)
    };
    (data, j)
}

/// Byte length after the first `n` fork-0 blocks.
pub(crate) fn byte_length_at(n: u64) -> u64 {
    (0..n)
        .map(|i| match content_of(0, i) {
            Content::Empty => 0,
            Content::Zeros(n) | Content::Ctr(n) => n as u64,
        })
        .sum()
}
