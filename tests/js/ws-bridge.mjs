// WebSocket ⇄ TCP bridge for browser replication tests: a browser cannot open TCP sockets, so
// each WebSocket connection accepted here is piped, raw bytes both ways, to a new TCP
// connection to --target (a JS hypercore peer running `store.replicate(...)` on its sockets).
// Nothing is interpreted: WebSocket message boundaries carry no meaning, every binary frame's
// bytes go to TCP in order, every TCP chunk goes out as one binary frame.
//
// Usage:
//   node tests/js/ws-bridge.mjs --target HOST:PORT [--host 127.0.0.1] [--port 0]
//
// Output: JSON lines on stdout.
//   {"ready":true,"port":P,"url":"ws://HOST:P","target":"HOST:PORT"}   once listening
//   {"event":"connection","id":n}                                        a WebSocket was accepted
//   {"event":"close","id":n,"wsToTcp":bytes,"tcpToWs":bytes,"error":...}  both sides of it ended
// Exits on stdin EOF or SIGTERM (so a dead test harness never leaves a bridge behind).
//
// Ending: the TCP side ending (FIN) closes the WebSocket cleanly (code 1000); the WebSocket
// closing cleanly ends the TCP side after the bytes received so far (FIN). An error or abnormal
// close on either side destroys the other (TCP reset / WebSocket close 1011).
// Backpressure: the two directions are stream pipes (ws's createWebSocketStream), so a slow
// reader on either side pauses the other.
import net from 'net'
import { createRequire } from 'module'

const require = createRequire(import.meta.url)
const { WebSocketServer, createWebSocketStream } = require('ws')

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function fail(reason) {
  out({ error: String(reason) })
  process.exit(1)
}

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: '0' }
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]
    const value = argv[i + 1]
    if (!name.startsWith('--') || value === undefined) fail('usage: ws-bridge.mjs --target HOST:PORT [--host H] [--port P]')
    opts[name.slice(2)] = value
  }
  if (!opts.target) fail('--target HOST:PORT is required')
  const i = opts.target.lastIndexOf(':')
  const port = Number(opts.target.slice(i + 1))
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) fail('bad --target ' + opts.target)
  opts.targetHost = opts.target.slice(0, i).replace(/^\[|\]$/g, '')
  opts.targetPort = port
  opts.port = Number(opts.port)
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) fail('bad --port')
  return opts
}

const opts = parseArgs(process.argv.slice(2))
const server = new WebSocketServer({ host: opts.host, port: opts.port, perMessageDeflate: false, maxPayload: 64 << 20 })
let nextId = 1

server.on('connection', (ws) => {
  const id = nextId++
  out({ event: 'connection', id })
  const wsStream = createWebSocketStream(ws, { highWaterMark: 1 << 20 })
  const tcp = net.connect({ host: opts.targetHost, port: opts.targetPort })
  tcp.setNoDelay(true)
  const counts = { wsToTcp: 0, tcpToWs: 0 }
  let ending = false
  let error = null
  let open = 2
  const closed = () => {
    if (--open === 0) out({ event: 'close', id, ...counts, error })
  }
  // Abnormal end of either side: take the other one down at once.
  const abort = (err) => {
    if (ending) return
    ending = true
    error = String(err && err.message ? err.message : err)
    tcp.destroy()
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1011, 'bridge: ' + error.slice(0, 100))
  }
  wsStream.on('data', (b) => { counts.wsToTcp += b.byteLength })
  tcp.on('data', (b) => { counts.tcpToWs += b.byteLength })
  wsStream.pipe(tcp)
  tcp.pipe(wsStream)
  // A clean end of one side ends the other after the bytes already received: the TCP peer's
  // FIN closes the WebSocket (code 1000 family), a clean WebSocket close sends FIN. Bytes the
  // ended side still sends after that have nowhere to go and are dropped.
  tcp.on('end', () => {
    if (ending) return
    ending = true
    wsStream.unpipe(tcp)
    wsStream.on('data', () => {})
  })
  wsStream.on('end', () => {
    if (ending) return
    ending = true
    tcp.unpipe(wsStream)
    tcp.on('data', () => {})
    tcp.end()
  })
  tcp.on('error', abort)
  wsStream.on('error', abort)
  tcp.on('close', closed)
  ws.on('close', closed)
})

server.on('error', (err) => fail(err.message))
server.on('listening', () => {
  const { port } = server.address()
  out({ ready: true, port, url: `ws://${opts.host}:${port}`, target: opts.target })
})

const shutdown = () => {
  for (const ws of server.clients) ws.terminate()
  server.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 1000).unref()
}
process.stdin.on('end', shutdown)
process.stdin.resume()
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
