// A live JS judge for what Rust makes: hyperdht's own codecs, NoiseWrap, SecurePayload and
// Persistent signatures, driven over stdin (used by wasm/core/tests/oracle_hyperdht.rs).
//
// Usage: node tests/js/dht-check.mjs   JSON lines in, one JSON line out per line in.
//   {op: 'decode', codec, hex}                        -> {decoded, reencodedIfDifferent, error}
//   {op: 'noiseNew', id, seedByte, remotePublicKey?}  -> {publicKey}   (initiator iff remote key)
//   {op: 'noiseSend', id, payload: hex}               -> {message}     (payload: encoded noisePayload)
//   {op: 'noiseRecv', id, message}                    -> {received} | {error}
//   {op: 'noiseFinal', id}                            -> {final}
//   {op: 'open', secret, sealed}                      -> {opened: JSON | null}
//   {op: 'seal', secret, payload: hex}                -> {sealed}      (random nonce, as JS does)
//   {op: 'token', secret, localSecret, host}          -> {token}
//   {op: 'signAnnounce' | 'signUnannounce', seedByte, target, nodeId, token, peer: hex, refresh}
//                                                      -> {signature}
//   {op: 'signMutable', seedByte, seq, value}         -> {signature}
//   {op: 'verifyMutable', publicKey, seq, value, signature} -> {valid}
import readline from 'readline'
import {
  c, b4a, m, dhtCrypto, NoiseWrap, SecurePayload, Persistent, hex, unhex, toJSON, judge, seeded,
  withRandom, finalJSON
} from './lib/dht-codecs.mjs'

const sessions = new Map()
const keyPair = (n) => dhtCrypto.createKeyPair(b4a.alloc(32, n))

const ops = {
  decode: ({ codec, hex: h }) => judge(codec, unhex(h)),
  noiseNew: ({ id, seedByte, remotePublicKey }) => {
    const kp = seeded(seedByte)
    sessions.set(id, new NoiseWrap(kp, remotePublicKey ? unhex(remotePublicKey) : null))
    return { publicKey: hex(kp.publicKey) }
  },
  noiseSend: ({ id, payload }) => ({
    message: hex(sessions.get(id).send(c.decode(m.noisePayload, unhex(payload))))
  }),
  noiseRecv: ({ id, message }) => {
    try {
      return { received: toJSON(sessions.get(id).recv(unhex(message))) }
    } catch (err) {
      return { error: err.message }
    }
  },
  noiseFinal: ({ id }) => {
    const f = finalJSON(sessions.get(id).final())
    sessions.delete(id)
    return { final: f }
  },
  open: ({ secret, sealed }) => ({ opened: toJSON(new SecurePayload(unhex(secret)).decrypt(unhex(sealed))) }),
  seal: ({ secret, payload }) => ({
    sealed: hex(new SecurePayload(unhex(secret)).encrypt(c.decode(m.holepunchPayload, unhex(payload))))
  }),
  token: ({ secret, localSecret, host }) => {
    const sp = withRandom(unhex(localSecret), () => new SecurePayload(unhex(secret)))
    return { token: hex(sp.token({ host, port: 0 })) }
  },
  signAnnounce: (r) => sign(r, Persistent.signAnnounce),
  signUnannounce: (r) => sign(r, Persistent.signUnannounce),
  signMutable: ({ seedByte, seq, value }) => ({
    signature: hex(Persistent.signMutable(seq, unhex(value), keyPair(seedByte)))
  }),
  verifyMutable: ({ publicKey, seq, value, signature }) => ({
    valid: Persistent.verifyMutable(unhex(signature), seq, unhex(value), unhex(publicKey))
  })
}

function sign({ seedByte, target, nodeId, token, peer, refresh }, fn) {
  const ann = { peer: c.decode(m.peer, unhex(peer)), refresh: unhex(refresh), signature: null }
  return { signature: hex(fn(unhex(target), unhex(token), unhex(nodeId), ann, keyPair(seedByte))) }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of rl) {
  if (line.trim() === '') continue
  const req = JSON.parse(line)
  let answer
  try {
    answer = ops[req.op](req)
  } catch (err) {
    answer = { fatal: `${req.op}: ${err.message}` }
  }
  process.stdout.write(JSON.stringify(answer) + '\n')
}
