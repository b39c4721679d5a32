// Review 6 pokes at a running relay (hostile clients). node tests/js/review6-poke.mjs <mode> <ws-url>
//   detach N      : N times: open a v1 session (hello), close the socket. Prints /healthz after.
//   jsflood SECS  : JS-compat session that never reads its socket and floods `ping`s.
//   v1flood SECS  : the same on a v1 session.
import WebSocket from 'ws'
const [mode, url, arg] = process.argv.slice(2)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
function openFrame (name) {
  const b = Buffer.from(name)
  return Buffer.concat([Buffer.from([0, 1, 1, b.length]), b, Buffer.from([0])])
}
function connect () {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.binaryType = 'nodebuffer'
    ws.on('open', () => resolve(ws))
    ws.on('error', reject)
  })
}
const health = async () => (await fetch(url.replace('ws:', 'http:').replace('/relay', '/healthz'))).json()
if (mode === 'detach') {
  const n = Number(arg || 10)
  let ok = 0
  for (let i = 0; i < n; i++) {
    const ws = await connect()
    ws.send(openFrame('hyperwasm-relay/1'))
    ws.send(Buffer.from([1, 0, 1, 0])) // hello v1, no resume
    await new Promise((resolve) => ws.on('message', (m) => { if (m[0] === 1 && m[1] === 1) { ok++; resolve() } }))
    ws.close()
    await new Promise((resolve) => ws.on('close', resolve))
  }
  await sleep(200)
  console.log(JSON.stringify({ welcomed: ok, health: await health() }))
} else if (mode === 'jsflood' || mode === 'v1flood') {
  const secs = Number(arg || 10)
  const ws = await connect()
  if (mode === 'jsflood') {
    ws.send(openFrame('@hyperswarm/dht-relay'))
    ws.send(Buffer.concat([Buffer.from([1, 0, 0]), Buffer.alloc(32, 7)])) // handshake, non-custodial
  } else {
    ws.send(openFrame('hyperwasm-relay/1'))
    ws.send(Buffer.from([1, 0, 1, 0]))
  }
  await sleep(300)
  ws._socket.pause() // never read again
  const ping = mode === 'jsflood' ? Buffer.from([1, 1]) : Buffer.from([1, 3])
  const end = Date.now() + secs * 1000
  let sent = 0
  while (Date.now() < end) {
    for (let i = 0; i < 2000; i++) { ws.send(ping); sent++ }
    await sleep(5)
  }
  console.log(JSON.stringify({ sent, buffered: ws.bufferedAmount }))
  process.exit(0)
}
