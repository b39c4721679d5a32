// Deterministic test content shared with the Rust side (relay/src/testdata.rs):
//   block(gen, i, size) = the first `size` bytes of H ‖ H ‖ H ‖ …,
//     H = BLAKE2b-256("hyperwasm-testdata" ‖ uint64LE(gen) ‖ uint64LE(i))
//   digest(blocks) = BLAKE2b-256 over, for each block in order, uint64LE(block.length) ‖ block.
import { sodium, b4a, hex } from './common.mjs'

const DOMAIN = b4a.from('hyperwasm-testdata')

export function testBlock(gen, index, size) {
  const input = b4a.alloc(DOMAIN.byteLength + 16)
  input.set(DOMAIN, 0)
  input.writeBigUInt64LE(BigInt(gen), DOMAIN.byteLength)
  input.writeBigUInt64LE(BigInt(index), DOMAIN.byteLength + 8)
  const h = b4a.alloc(32)
  sodium.crypto_generichash(h, input)
  const out = b4a.alloc(size)
  for (let off = 0; off < size; off += 32) h.copy(out, off, 0, Math.min(32, size - off))
  return out
}

export class Digest {
  constructor() {
    this.state = b4a.alloc(sodium.crypto_generichash_STATEBYTES)
    sodium.crypto_generichash_init(this.state, null, 32)
    this.len = b4a.alloc(8)
  }

  update(block) {
    this.len.writeBigUInt64LE(BigInt(block.byteLength), 0)
    sodium.crypto_generichash_update(this.state, this.len)
    sodium.crypto_generichash_update(this.state, block)
  }

  final() {
    const out = b4a.alloc(32)
    sodium.crypto_generichash_final(this.state, out)
    return hex(out)
  }
}

/** Digest of the locally stored blocks [start, end) of `core` (fails if one is missing). */
export async function coreDigest(core, start, end) {
  const d = new Digest()
  let bytes = 0
  for (let i = start; i < end; i++) {
    const block = await core.get(i, { wait: false })
    if (block === null) throw new Error('block ' + i + ' is not stored locally')
    d.update(block)
    bytes += block.byteLength
  }
  return { digest: d.final(), bytes }
}
