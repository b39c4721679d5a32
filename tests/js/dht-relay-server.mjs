// The JS relay (`@hyperswarm/dht-relay` 0.4.3, relay side) on a loopback testnet: the anchor of
// tests/bench/relay.sh and a reference for the relay's live tests.
//
//   node tests/js/dht-relay-server.mjs --bootstrap HOST:PORT[,HOST:PORT…] [--port N=0]
//
// One HyperDHT node (ephemeral, 127.0.0.1, as dht-peer.mjs makes them) and a `ws`
// WebSocketServer on 127.0.0.1:port; every WebSocket is served with
// `relay(dht, new Stream(false, socket))`, the package's own relay (as its bin.js does).
// → {"event":"listening","url":"ws://127.0.0.1:P","port":P,"dht":{"host","port"}}
// Stays up until stdin closes.
import http from 'http'
import {
  require, setTag, out, log, run, exit, onCleanup, parseArgs, intArg, bootstrapArg, createNode, HOST, addrJson
} from './lib/dht.mjs'

const { relay } = require('@hyperswarm/dht-relay')
const Stream = require('@hyperswarm/dht-relay/ws')
const { WebSocketServer } = require('ws')

setTag('dht-relay-server')

run(async () => {
  const { opts } = parseArgs(['serve', ...process.argv.slice(2)], { repeatable: ['bootstrap'] })
  const bootstrap = bootstrapArg(opts.bootstrap)
  const port = intArg(opts.port, 'port', 0)
  const dht = await createNode({ bootstrap })
  const server = http.createServer()
  const wss = new WebSocketServer({ server })
  const sockets = new Set()
  wss.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', (err) => log('socket error:', err.message))
    relay(dht, new Stream(false, socket))
  })
  onCleanup(async () => {
    for (const s of sockets) s.terminate()
    wss.close()
    await new Promise((resolve) => server.close(resolve))
  })
  await new Promise((resolve) => server.listen(port, HOST, resolve))
  const p = server.address().port
  out({ event: 'listening', url: 'ws://' + HOST + ':' + p, port: p, dht: addrJson(dht.address()) })
  process.stdin.resume()
  process.stdin.on('end', () => exit(0))
})
