// A scripted JS Protomux peer over an in-memory stream, for the wire fixtures
// (gen-wire-fixtures.mjs) and the interactive checker (check-mux-frames.mjs).
//
// A side's application follows a policy: `protocols[name]` is paired with `mux.pair`, so every
// remote open of it is seen (event `remoteOpen`); it is answered by opening the same
// (protocol, id) when `accept` is true or lists the id's hex (with `aliases`, handshake
// `<side>:<protocol>` in UTF-8), otherwise JS rejects it. With `async: true` the answer waits
// for a `release` step. Every channel has three raw message types; a message of type 0 is
// echoed back as type 1 when `policy.echo` is set.
import { EventEmitter } from 'events'
import { require, c, b4a, hex, unhex } from './common.mjs'

const Protomux = require('protomux')

export const labelOf = (protocol, id) => protocol + '#' + (id ? hex(id) : '')
export const settle = () => new Promise((resolve) => setImmediate(resolve))
export const macrotask = (fn) =>
  new Promise((resolve, reject) =>
    setImmediate(() => {
      try {
        fn()
        resolve()
      } catch (err) {
        reject(err)
      }
    })
  )

class FakeStream extends EventEmitter {
  constructor(side) {
    super()
    this.side = side
    this.userData = null
    this.destroyed = false
  }

  write(buf) {
    this.side.sink({ write: this.side.name, hex: hex(b4a.from(buf)) }, b4a.from(buf))
    return true
  }

  destroy(err) {
    if (this.destroyed) return
    this.destroyed = true
    this.side.sink({ destroy: this.side.name, error: err ? err.message : null })
  }

  pause() {}
  resume() {}
  end() {}
}

export class Side {
  // sink(entry, bufferIfWrite) receives every write, event and destroy in order.
  constructor(name, policy, sink) {
    this.name = name
    this.policy = policy
    this.sink = sink
    this.stream = new FakeStream(this)
    this.mux = new Protomux(this.stream)
    this.channels = new Map()
    this.waiting = []
    for (const protocol of Object.keys(policy.protocols || {})) {
      this.mux.pair({ protocol }, (id) => this._onRemoteOpen(protocol, id))
    }
  }

  event(kind, fields) {
    this.sink({ event: this.name, kind, ...fields })
  }

  _onRemoteOpen(protocol, id) {
    this.event('remoteOpen', { protocol, id: hex(id) })
    const p = this.policy.protocols[protocol]
    const accept = p.accept === true || (Array.isArray(p.accept) && p.accept.includes(hex(id) || ''))
    if (!accept) return
    const answer = () => this.open({ protocol, id: hex(id), aliases: p.aliases, handshake: hex(b4a.from(this.name + ':' + protocol)) })
    if (!p.async) return answer()
    return new Promise((resolve) => this.waiting.push(resolve)).then(answer)
  }

  open({ protocol, id = null, aliases = [], handshake = '' }) {
    const idBuf = id ? unhex(id) : null
    const label = labelOf(protocol, idBuf)
    const ch = this.mux.createChannel({
      protocol,
      id: idBuf,
      aliases,
      handshake: c.raw,
      messages: [0, 1, 2].map((type) => ({
        encoding: c.raw,
        onmessage: (m, session) => {
          this.event('message', { label, type, payload: hex(m) })
          if (type === 0 && this.policy.echo) session.messages[1].send(m)
        }
      })),
      onopen: (hs) => this.event('opened', { label, handshake: hex(hs) }),
      onclose: (remote) => this.event('closed', { label, remote })
    })
    if (ch === null) return null
    this.channels.set(label, ch)
    ch.open(unhex(handshake))
    return ch
  }

  // One scripted step for this side: [verb, ...args].
  step(verb, ...args) {
    switch (verb) {
      case 'open': return this.open(args[0])
      case 'send': return this.channels.get(args[0]).messages[args[1]].send(unhex(args[2]))
      case 'cork': return this.mux.cork()
      case 'uncork': return this.mux.uncork()
      case 'close': return this.channels.get(args[0]).close()
      case 'raw': return this.stream.write(unhex(args[0]))
      case 'release': {
        const w = this.waiting
        this.waiting = []
        for (const resolve of w) resolve()
        return null
      }
    }
    throw new Error('unknown step ' + verb)
  }

  deliver(buf) {
    if (!this.stream.destroyed) this.stream.emit('data', buf)
  }
}

const P = (accept = true, extra = {}) => ({ accept, ...extra })
const hs = (s) => hex(b4a.from(s))

// Each scenario: policies of sides a and b, steps (`[side, verb, ...args]` or `['deliver']`),
// and which side Rust can replay byte for byte (`replay`; see tests/fixtures/wire/README.md).
export const SCENARIOS = [
  {
    name: 'open-both-exchange-close',
    policy: { a: { protocols: { p: P() }, echo: true }, b: { protocols: { p: P() }, echo: true } },
    replay: ['a', 'b'],
    steps: [
      ['a', 'open', { protocol: 'p', handshake: hs('ha') }],
      ['b', 'open', { protocol: 'p', handshake: hs('hb') }],
      ['deliver'],
      ['a', 'send', 'p#', 0, hs('hello')],
      ['a', 'send', 'p#', 2, 'ff'],
      ['deliver'],
      ['b', 'send', 'p#', 2, ''],
      ['deliver'],
      ['a', 'close', 'p#'],
      ['deliver']
    ]
  },
  {
    name: 'open-on-demand-with-early-messages-and-rejects',
    policy: {
      a: { protocols: { 'hypercore/alpha': P(false, { aliases: ['hypercore'] }) }, echo: true },
      b: { protocols: { 'hypercore/alpha': P(['6b31', '6b32'], { aliases: ['hypercore'] }) }, echo: true }
    },
    replay: ['a', 'b'],
    steps: [
      ...['6b31', '6b32', '6b33'].flatMap((id) => [
        ['a', 'open', { protocol: 'hypercore/alpha', id, aliases: ['hypercore'], handshake: '01' + '11'.repeat(32) }],
        ['a', 'send', 'hypercore/alpha#' + id, 0, id]
      ]),
      ['deliver'],
      ['a', 'open', { protocol: 'hypercore/alpha', id: '6b33', aliases: ['hypercore'], handshake: '00' }],
      ['deliver'],
      ['a', 'open', { protocol: 'hypercore/alpha', id: '6b34', handshake: '00' }],
      ['a', 'send', 'hypercore/alpha#6b32', 2, 'aa'.repeat(300)],
      ['deliver']
    ]
  },
  {
    name: 'corked-batches-both-ways',
    policy: { a: { protocols: { p: P(), q: P() }, echo: true }, b: { protocols: { p: P(), q: P() }, echo: true } },
    replay: ['a', 'b'],
    steps: [
      ['a', 'cork'],
      ['a', 'open', { protocol: 'p', handshake: hs('hp') }],
      ['a', 'open', { protocol: 'q', id: '00ff', handshake: '' }],
      ['a', 'send', 'p#', 0, hs('x')],
      ['a', 'send', 'q#00ff', 0, hs('y')],
      ['a', 'cork'],
      ['a', 'send', 'p#', 0, hs('z')],
      ['a', 'send', 'p#', 2, ''],
      ['a', 'uncork'],
      ['a', 'uncork'],
      ['deliver'],
      ['b', 'cork'],
      ['b', 'send', 'q#00ff', 2, '01'],
      ['b', 'close', 'p#'],
      ['b', 'send', 'q#00ff', 2, '02'],
      ['b', 'uncork'],
      ['deliver']
    ]
  },
  {
    name: 'simultaneous-close-and-reopen',
    policy: { a: { protocols: { p: P() }, echo: false }, b: { protocols: { p: P() }, echo: false } },
    replay: ['a', 'b'],
    steps: [
      ['a', 'open', { protocol: 'p' }],
      ['a', 'open', { protocol: 'r' }],
      ['b', 'open', { protocol: 'p' }],
      ['b', 'open', { protocol: 'r' }],
      ['deliver'],
      ['a', 'close', 'p#'],
      ['b', 'close', 'p#'],
      ['deliver'],
      ['a', 'open', { protocol: 'p', handshake: '01' }],
      ['deliver'],
      ['a', 'send', 'p#', 0, '0a'],
      ['a', 'close', 'r#'],
      ['deliver'],
      ['b', 'open', { protocol: 'r' }],
      ['deliver']
    ]
  },
  {
    name: 'aliases',
    policy: {
      a: { protocols: { 'hypercore/alpha': P(false), hypercore: P(false) }, echo: true },
      b: { protocols: { 'hypercore/alpha': P(false), hypercore: P(false) }, echo: true }
    },
    replay: ['a', 'b'],
    steps: [
      ['a', 'open', { protocol: 'hypercore/alpha', id: '01', aliases: ['hypercore'] }],
      ['b', 'open', { protocol: 'hypercore', id: '01', aliases: ['hypercore/alpha'] }],
      ['deliver'],
      ['a', 'send', 'hypercore/alpha#01', 0, '05'],
      ['deliver']
    ]
  },
  {
    name: 'close-before-answer',
    // Rust as a repeats its close when b's answer arrives (a deviation JS peers ignore).
    policy: { a: { protocols: { p: P() }, echo: true }, b: { protocols: { p: P() }, echo: true } },
    replay: ['b'],
    steps: [['a', 'open', { protocol: 'p' }], ['a', 'close', 'p#'], ['deliver']]
  },
  ...[
    ['open-remote-id-0', ['000100017000']],
    ['open-skipping-an-id', ['000102017000']],
    ['open-twice', ['000101017000', '000101017000']],
    ['reject-unknown', ['000201']],
    ['reject-of-a-paired-channel', ['000101017000', '000201']],
    ['ignored-frames', ['', '000305', '0705aabb', '0009', '000300', '000000', '0000000005', '0104aa']],
    ['truncated-frames', ['00']],
    ['truncated-batch', ['00000105']],
    ['batch-missing-channel-switch', ['00000100']],
    ['overlong-batch-entry', ['000101017000', '000001050061']],
    ['nested-batch', ['000101017000', '000000050001020062']],
    ['unknown-message-type-and-closed-channel', ['000101017000', '010905', '000301', '010001']]
  ].map(([name, frames]) => ({
    name: 'raw-' + name,
    policy: { a: { protocols: {}, echo: false }, b: { protocols: { p: P() }, echo: true } },
    replay: ['b'],
    steps: frames.flatMap((f) => [['a', 'raw', f], ['deliver']])
  }))
]

export async function runScenario(s) {
  const log = []
  const queue = []
  const sides = {}
  const sinkFor = (name) => (entry, buf) => {
    log.push(entry)
    if (buf) queue.push({ to: name === 'a' ? 'b' : 'a', buf })
  }
  sides.a = new Side('a', s.policy.a, sinkFor('a'))
  sides.b = new Side('b', s.policy.b, sinkFor('b'))
  // Deliveries and steps run as macrotasks (like socket callbacks), so JS's nextTicks run before
  // its promise jobs, as they do on a real stream.
  for (const [who, verb, ...args] of s.steps) {
    if (who === 'deliver') {
      await settle()
      while (queue.length > 0) {
        const { to, buf } = queue.shift()
        await macrotask(() => {
          log.push({ deliver: to, hex: hex(buf) })
          sides[to].deliver(buf)
        })
        await settle()
      }
      continue
    }
    await macrotask(() => {
      log.push({ step: who, verb, args })
      sides[who].step(verb, ...args)
    })
    await settle()
  }
  return { name: s.name, policy: s.policy, replay: s.replay, log }
}
