// A live JS HyperDHT testnet (hyperdht 6.34.0 / dht-rpc 6.27.0) for relay/tests/interop_dht_rpc.rs.
//
// Usage: node tests/js/dht-testnet.mjs [--nodes N] [--bootstrap HOST:PORT[,HOST:PORT...]]
//
// Runs `createTestnet(N, {bootstrap})` from `hyperdht/testnet.js` on 127.0.0.1 (every node is
// `{ephemeral: false, firewalled: false}`; without --bootstrap node 0 is the network's bootstrap
// node and stays id-less). With --bootstrap the testnet joins an existing network through those
// nodes. When every node is fully bootstrapped it prints one line
//   {"bootstrap":[{"host","port"}],"nodes":[{"host","port","id":HEX|null}]}
// then answers JSON commands on stdin, one line each (errors: {"error": "..."}):
//   {"cmd":"find-node","target":HEX,"via":I?}     findNode(target) from node I, or (no "via") from
//        an ephemeral client node (`testnet.createNode()`, made once) →
//        {"closest":[{"host","port","id"}],"replies":n}   closestReplies, nearest first
//   {"cmd":"xor-closest","target":HEX,"k":K?} → {"ids":[HEX...]}: the testnet's node ids sorted by
//        XOR distance to target, nearest first (JS's own arithmetic, no network), at most K (20)
//   {"cmd":"has","host","port"}   → {"count":n,"of":m,"nodes":[I...]} nodes whose routing table
//        holds id(host:port) at that address (m = nodes with an id)
//   {"cmd":"tables"}              → {"nodes":[{"id":HEX|null,"table":[HEX...]}]}
//   {"cmd":"ping","host","port","via":I} → {"from":{...},"to":{...},"code":e,"token":HEX|null,
//        "closer":n,"closerNodes":[...],"value":HEX|null}   (dht.ping; code = the reply's error)
//   {"cmd":"request","host","port","via":I,"command":C,"internal":B?,"target":HEX?,"value":HEX?,
//        "token":HEX?} → same shape (a raw dht-rpc request via io.createRequest)
//   {"cmd":"ping-nat","host","port","via":I} → PING_NAT sent from node I's client socket carrying
//        its server socket's port: {"to":{...},"onServer":B,"serverPort":P,"code":e}
//        (onServer: a datagram from host:port reached the server socket while waiting)
//   {"cmd":"down-hint","host","port","down":{"host","port"},"via":I} → DOWN_HINT reply (same shape)
//   {"cmd":"create-node"}         → a new persistent node joins: {"index":I,"host","port","id"}
//   {"cmd":"kill","index":I}      → {"killed":I}
// Stdin EOF destroys the testnet and exits 0.
import readline from 'readline'
import { require, DHT, createTestnet, HOST, setTag, parseArgs, intArg, bootstrapArg, out, hex } from './lib/dht.mjs'

setTag('dht-testnet')

const peer = require('dht-rpc/lib/peer.js')
const { PING_NAT, DOWN_HINT } = require('dht-rpc/lib/commands.js')

const { opts } = parseArgs(['testnet', ...process.argv.slice(2)])
const size = intArg(opts.nodes, 'nodes', 10)
const bootstrap = opts.bootstrap ? bootstrapArg(opts.bootstrap) : []

const addr = (a) => ({ host: a.host, port: a.port, id: hex(a.id) })

const testnet = await createTestnet(size, { host: HOST, bootstrap })
const nodes = [...testnet.nodes]
let client = null

out({
  bootstrap: testnet.bootstrap,
  nodes: nodes.map((n) => ({ host: '127.0.0.1', port: n.address().port, id: hex(n.id) }))
})

function reply(res) {
  return {
    from: addr(res.from),
    to: addr(res.to),
    code: res.error,
    token: hex(res.token),
    closer: res.closerNodes ? res.closerNodes.length : 0,
    closerNodes: (res.closerNodes || []).map(addr),
    value: hex(res.value)
  }
}

function rawRequest(dht, to, { internal = false, command, target = null, value = null, token = null }, socket) {
  return new Promise((resolve, reject) => {
    const req = dht.io.createRequest({ id: null, host: to.host, port: to.port }, token, internal, command, target, value, null)
    if (socket) req.socket = socket
    req.onresponse = resolve
    req.onerror = reject
    req.send()
  })
}

const handlers = {
  async 'find-node'(c) {
    let dht
    if (c.via === undefined || c.via === null) {
      if (!client) {
        client = testnet.createNode()
        await client.fullyBootstrapped()
      }
      dht = client
    } else {
      dht = nodes[c.via]
    }
    const q = dht.findNode(Buffer.from(c.target, 'hex'))
    let replies = 0
    for await (const _ of q) replies++ // eslint-disable-line no-unused-vars
    return { closest: q.closestReplies.map((r) => addr(r.from)), replies }
  },
  async 'xor-closest'(c) {
    const target = Buffer.from(c.target, 'hex')
    const ids = nodes.filter((n) => !n.destroyed && n.id).map((n) => Buffer.from(n.id))
    const dist = (id) => Buffer.from(id.map((b, i) => b ^ target[i]))
    ids.sort((a, b) => Buffer.compare(dist(a), dist(b)))
    return { ids: ids.slice(0, c.k || 20).map(hex) }
  },
  async has(c) {
    const id = peer.id(c.host, c.port)
    const holders = []
    let of = 0
    nodes.forEach((n, i) => {
      if (n.destroyed) return
      if (n.id) of++
      const e = n.table.get(id)
      if (e && e.host === c.host && e.port === c.port) holders.push(i)
    })
    return { count: holders.length, of, nodes: holders }
  },
  async tables() {
    return { nodes: nodes.map((n) => ({ id: hex(n.id), table: n.table.toArray().map((e) => hex(e.id)) })) }
  },
  async ping(c) {
    return reply(await nodes[c.via].ping({ host: c.host, port: c.port }))
  },
  async request(c) {
    const b = (h) => (h === undefined || h === null ? null : Buffer.from(h, 'hex'))
    const res = await rawRequest(nodes[c.via], c, {
      internal: !!c.internal,
      command: c.command,
      target: b(c.target),
      value: b(c.value),
      token: b(c.token)
    })
    return reply(res)
  },
  async 'ping-nat'(c) {
    const dht = nodes[c.via]
    const serverPort = dht.io.serverSocket.address().port
    let onServer = false
    const onmessage = (_, rinfo) => {
      if (rinfo.port === c.port && rinfo.host === c.host) onServer = true
    }
    dht.io.serverSocket.on('message', onmessage)
    const value = Buffer.alloc(2)
    value.writeUInt16LE(serverPort)
    try {
      const res = await rawRequest(dht, c, { internal: true, command: PING_NAT, value }, dht.io.clientSocket)
      await new Promise((resolve) => setImmediate(resolve))
      return { to: addr(res.to), onServer, serverPort, code: res.error }
    } finally {
      dht.io.serverSocket.removeListener('message', onmessage)
    }
  },
  async 'down-hint'(c) {
    const value = Buffer.alloc(6)
    peer.ipv4.encode({ start: 0, end: 6, buffer: value }, c.down)
    return reply(await rawRequest(nodes[c.via], c, { internal: true, command: DOWN_HINT, value }))
  },
  async 'create-node'() {
    const n = new DHT({ ephemeral: false, firewalled: false, bootstrap: testnet.bootstrap, host: '127.0.0.1' })
    await n.fullyBootstrapped()
    nodes.push(n)
    return { index: nodes.length - 1, host: '127.0.0.1', port: n.address().port, id: hex(n.id) }
  },
  async kill(c) {
    await nodes[c.index].destroy()
    return { killed: c.index }
  }
}

const rl = readline.createInterface({ input: process.stdin })
let chain = Promise.resolve()
rl.on('line', (line) => {
  if (!line.trim()) return
  chain = chain.then(async () => {
    try {
      const c = JSON.parse(line)
      const h = handlers[c.cmd]
      if (!h) throw new Error('unknown command ' + c.cmd)
      out(await h(c))
    } catch (err) {
      out({ error: String((err && (err.code || err.message)) || err) })
    }
  })
})
rl.on('close', async () => {
  await chain
  if (client) await client.destroy()
  for (const n of nodes) if (!n.destroyed) await n.destroy()
  await testnet.destroy().catch(() => {})
  process.exit(0)
})
