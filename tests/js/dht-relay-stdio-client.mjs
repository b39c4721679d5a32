// The real @hyperswarm/dht-relay 0.4.3 client (`new DHT(stream, { custodial })`) on a stream
// carried over stdio, for tests that put our relay session on the other end.
//
// Usage: node tests/js/dht-relay-stdio-client.mjs <mode> '<json args>'
//   stdin:  "F <hex>"  one Protomux frame from the relay;  "END" ends the stream
//   stdout: "F <hex>"  one Protomux frame to the relay;    "E <json>" an event of the client
// Modes (args: seed = key pair seed byte; custodial = true sends secret keys):
//   server   createServer().listen(keyPair), echo every connection's data   → listening, connection, data
//   client   connect(args.remote), write args.message, wait for the echo     → open, data, close
//   lookup   lookup(args.topic) to the end                                   → result…, finished
//   announce announce(args.topic, keyPair) to the end                        → result…, finished
import readline from 'readline'
import path from 'path'
import { createRequire } from 'module'

const require = createRequire(import.meta.url)
const DHT = require('@hyperswarm/dht-relay')
const PKG = path.dirname(require.resolve('@hyperswarm/dht-relay'))
const { Duplex } = require(require.resolve('streamx', { paths: [PKG] }))
const b4a = require('b4a')

const [mode, rawArgs] = process.argv.slice(2)
const args = JSON.parse(rawArgs || '{}')
const hex = (b) => (b == null ? null : b4a.toString(b, 'hex'))
const emit = (o) => process.stdout.write('E ' + JSON.stringify(o) + '\n')

const stream = new Duplex({
  write (data, cb) {
    process.stdout.write('F ' + hex(data) + '\n')
    cb(null)
  }
})
stream.on('error', (err) => emit({ event: 'stream-error', error: err.message }))
stream.on('close', () => emit({ event: 'stream-close' }))

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.startsWith('F ')) stream.push(b4a.from(line.slice(2), 'hex'))
  else if (line === 'END') stream.destroy()
})

const keyPair = DHT.keyPair(b4a.alloc(32, args.seed || 1))
const node = new DHT(stream, { custodial: args.custodial === true, keyPair })
emit({ event: 'started', publicKey: hex(keyPair.publicKey) })

function peerJSON (p) {
  return { publicKey: hex(p.publicKey), relayAddresses: p.relayAddresses.map(({ host, port }) => ({ host, port })) }
}

async function drain (query) {
  for await (const r of query) {
    emit({
      event: 'result',
      token: hex(r.token),
      from: { id: hex(r.from.id), host: r.from.host, port: r.from.port },
      to: { id: hex(r.to.id), host: r.to.host, port: r.to.port },
      peers: r.peers.map(peerJSON)
    })
  }
  emit({ event: 'finished' })
}

if (mode === 'server') {
  const server = node.createServer((conn) => {
    emit({ event: 'connection', remotePublicKey: hex(conn.remotePublicKey) })
    conn.on('data', (d) => {
      emit({ event: 'data', data: b4a.toString(d) })
      conn.write(d)
    })
    conn.on('error', (err) => emit({ event: 'error', error: err.message }))
    conn.on('close', () => emit({ event: 'close' }))
  })
  await server.listen(keyPair)
  const { host, port } = server.address()
  emit({ event: 'listening', host, port })
} else if (mode === 'client') {
  const conn = node.connect(b4a.from(args.remote, 'hex'))
  conn.on('open', () => emit({ event: 'open', handshakeHash: hex(conn.handshakeHash) }))
  conn.on('data', (d) => {
    emit({ event: 'data', data: b4a.toString(d) })
    conn.end()
  })
  conn.on('error', (err) => emit({ event: 'error', error: err.message }))
  conn.on('close', () => emit({ event: 'close' }))
  conn.write(b4a.from(args.message))
} else if (mode === 'lookup') {
  await drain(node.lookup(b4a.from(args.topic, 'hex')))
} else if (mode === 'announce') {
  await drain(node.announce(b4a.from(args.topic, 'hex'), keyPair))
} else {
  throw new Error('unknown mode ' + mode)
}
