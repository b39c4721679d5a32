// A JS udx-native stream on 127.0.0.1, driven by the Rust interop test
// (relay/tests/interop_udx.rs). One stream, then exit.
//
//   node tests/js/udx-peer.mjs --id N --remote-id N --remote-port P [options]
//
// The stream is created with local id --id and connected at once to --remote-id at
// 127.0.0.1:--remote-port (so its first packets may reach the Rust stream before that one
// is connected: the "firewall" path hyperdht relies on).
//
// Options:
//   --send BYTES          write BYTES random bytes (64 KiB writes, honouring backpressure),
//                         then end()
//   --end-on-eof          end() our side once the peer's EOF arrives (if not already ended)
//   --echo                write every received chunk back; end() on EOF
//   --destroy-after BYTES destroy() the stream once BYTES have been received
//
// stdout, one JSON object per line:
//   {"event":"listening","port"}
//   {"event":"sent","bytes","sha256"}            everything written and end() called
//   {"event":"end","bytes","sha256"}             the peer's EOF, with what was received
//   {"event":"destroyed","bytes"}                --destroy-after fired
//   {"event":"error","code","message"}
//   {"event":"close","bytes","retransmits","rtoCount","packetsTransmitted","packetsReceived"}
import { createRequire } from 'module'
import crypto from 'crypto'
import { once } from 'events'
import { flagArgs } from './lib/common.mjs'

const require = createRequire(import.meta.url)
const UDX = require('udx-native')

const args = flagArgs(process.argv.slice(2))

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const id = Number(args.id)
const remoteId = Number(args['remote-id'])
const remotePort = Number(args['remote-port'])
const sendBytes = args.send ? Number(args.send) : 0
const destroyAfter = args['destroy-after'] ? Number(args['destroy-after']) : 0
const echo = !!args.echo
const endOnEof = !!args['end-on-eof'] || echo

const udx = new UDX()
const socket = udx.createSocket()
socket.bind(0, '127.0.0.1')
out({ event: 'listening', port: socket.address().port })

const stream = udx.createStream(id)
stream.connect(socket, remoteId, remotePort, '127.0.0.1')

let received = 0
let ended = false
let destroyed = false
const rxHash = crypto.createHash('sha256')

stream.on('data', (chunk) => {
  received += chunk.length
  rxHash.update(chunk)
  if (echo && !ended) stream.write(chunk)
  if (destroyAfter && received >= destroyAfter && !destroyed) {
    destroyed = true
    out({ event: 'destroyed', bytes: received })
    stream.destroy()
  }
})

stream.on('end', () => {
  out({ event: 'end', bytes: received, sha256: rxHash.digest('hex') })
  if (endOnEof && !ended) {
    ended = true
    stream.end()
  }
})

stream.on('error', (err) => out({ event: 'error', code: err.code || null, message: err.message }))

stream.on('close', () => {
  out({
    event: 'close',
    bytes: received,
    retransmits: stream.retransmits,
    rtoCount: stream.rtoCount,
    packetsTransmitted: stream.packetsTransmitted,
    packetsReceived: stream.packetsReceived
  })
  socket.close()
})

async function send() {
  const data = crypto.randomBytes(sendBytes)
  const txHash = crypto.createHash('sha256').update(data).digest('hex')
  for (let off = 0; off < data.length && !stream.destroyed; off += 65536) {
    if (!stream.write(data.subarray(off, off + 65536))) await once(stream, 'drain')
  }
  if (stream.destroyed) return
  ended = true
  stream.end()
  out({ event: 'sent', bytes: data.length, sha256: txHash })
}

if (sendBytes) send().catch((err) => out({ event: 'error', code: err.code || null, message: err.message }))

// the test closes stdin to make us exit early
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
