// The browser's RelayClient (hyperwasm-web) through the real relay binary to JS HyperDHT peers,
// in headless Chromium:
//
//   page (RelayClient, keys + Noise + secret-stream) ⇄ WebSocket ⇄ hyperwasm-relay relay
//        --local-testnet 8 ⇄ UDX ⇄ JS hyperdht peers (tests/js/dht-peer.mjs) on that testnet
//
// 1. lookup: a topic announced by a JS peer is found from the page, with its key;
// 2. connect + echo: 256 KiB to a JS echo server come back byte for byte;
// 3. resume: the page's WebSocket is dropped in the middle of a 256 KiB echo; the session is
//    resumed on a new socket and every byte still comes back;
// 4. announce: a topic the page announces (signed in the page) is seen by a JS lookup;
// 5. listen: a JS client connects to a server of the page and gets its bytes echoed;
// 6. replicate: the page finds a JS Hyperswarm seeder on a topic, connects to it and downloads
//    its hypercore with core.replicate(relayStream); every block matches lib/testdata.mjs;
// 7. errors: connecting to a key nobody serves rejects with an Error carrying .code;
// 8. the demo page (web-demo/, served by the relay): its relay panel looks up the JS topic and
//    echoes a message through the JS echo server.
//
// Needs the release package (scripts/build-web.sh → wasm/web/pkg), the relay binary
// (cargo build -p hyperwasm-relay; HYPERWASM_RELAY_BIN overrides target/debug/hyperwasm-relay)
// and tests/js/node_modules. Run with `node --test tests/browser/relay.test.mjs`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import { testBlock } from '../js/lib/testdata.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const require = createRequire(path.join(root, 'tests/js/package.json'))
const { chromium } = require('playwright-core')
const relayBin = process.env.HYPERWASM_RELAY_BIN ||
  path.join(process.env.CARGO_TARGET_DIR || path.join(root, 'target'), 'debug/hyperwasm-relay')

const ECHO_BYTES = 256 * 1024
const BLOCKS = 24
const BLOCK_SIZE = 1024

function within (ms, promise, what) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** A child process printing JSON lines; `next(pred)` waits for a matching line. */
function start (cmd, args, name = path.basename(args[0] || cmd)) {
  const child = spawn(cmd, args, { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] })
  const lines = []
  let wake = []
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    try { lines.push(JSON.parse(line)) } catch { lines.push({ raw: line }) }
    for (const w of wake) w()
    wake = []
  })
  let exited = false
  child.on('exit', () => { exited = true; for (const w of wake) w() })
  child.next = (pred, ms = 30_000) => within(ms, (async () => {
    for (;;) {
      const i = lines.findIndex(pred)
      if (i >= 0) return lines.splice(i, 1)[0]
      const err = lines.find((l) => l.error)
      if (err) throw new Error(`${name}: ${err.error}`)
      if (exited) throw new Error(`${name} exited: ${stderr.trim().slice(-2000)}`)
      await new Promise((resolve) => wake.push(resolve))
    }
  })(), `${name} ${args.slice(1).join(' ')}`)
  child.stop = () => { if (!exited) { child.stdin.end(); child.kill('SIGTERM') } }
  child.stderrText = () => stderr
  return child
}

const node = (args) => start(process.execPath, [path.join(root, 'tests/js/dht-peer.mjs'), ...args], `dht-peer ${args[0]}`)

async function ready (page) {
  await page.waitForFunction(() => window.hyperwasmReady || window.hyperwasmError, null, { timeout: 60_000 })
  const error = await page.evaluate(() => window.hyperwasmError ? String(window.hyperwasmError) : null)
  assert.equal(error, null, 'test page failed to load the wasm package')
}

test('RelayClient in the browser through hyperwasm-relay to JS HyperDHT peers', async (t) => {
  assert.ok(fs.existsSync(relayBin), `relay binary missing: ${relayBin} (cargo build -p hyperwasm-relay)`)
  const procs = []
  const relay = start(relayBin, ['serve', '--listen', '127.0.0.1:0', '--local-testnet', '8', '--web-root', root], 'relay')
  procs.push(relay)
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'hyperwasm-relay-browser-'))
  let context
  const errors = []
  try {
    const up = await relay.next((l) => l.listening, 60_000)
    const bootstrap = up.testnet.join(',')
    const base = `http://${up.listening}`

    const echo = node(['echo-server', '--bootstrap', bootstrap])
    procs.push(echo)
    const topic = crypto.randomBytes(32).toString('hex')
    const announcer = node(['announce', '--topic', topic, '--listen', '--bootstrap', bootstrap])
    procs.push(announcer)
    const seed = node(['swarm-seed', '--blocks', String(BLOCKS), '--block-size', String(BLOCK_SIZE), '--server-only', '--bootstrap', bootstrap])
    procs.push(seed)
    const [echoUp, announced, seeded] = await Promise.all([
      echo.next((l) => l.event === 'listening', 60_000),
      announcer.next((l) => l.event === 'announced', 60_000),
      seed.next((l) => l.event === 'ready', 60_000)
    ])

    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run']
    })
    const page = context.pages()[0] || await context.newPage()
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()) })
    await page.goto(base + '/tests/browser/relay.html')
    await ready(page)
    await page.evaluate(async () => { window.relay = await hyperwasm.RelayClient.open(relayUrl) })

    await t.test('lookup finds a JS-announced topic', async () => {
      const found = await page.evaluate(({ topic, key }) => findPeer(relay, topic, key), { topic, key: announced.publicKey })
      assert.equal(found.publicKey, announced.publicKey)
      assert.equal(found.from.host, '127.0.0.1')
      assert.deepEqual(found.relayAddresses.map((a) => `${a.host}:${a.port}`).sort(),
        announced.relayAddresses.map((a) => `${a.host}:${a.port}`).sort())
    })

    await t.test('connect to a JS echo server and echo 256 KiB', async () => {
      const r = await page.evaluate(async ({ key, n }) => {
        const stream = await relay.connect(key)
        const bytes = new Uint8Array(n)
        for (let i = 0; i < n; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536))
        const r = await echo(relay, stream, bytes)
        await stream.end()
        await stream.closed
        return { ...r, remote: hex(stream.remotePublicKey), stats: stream.stats() }
      }, { key: echoUp.publicKey, n: ECHO_BYTES })
      assert.equal(r.remote, echoUp.publicKey)
      assert.equal(r.received, ECHO_BYTES)
      assert.ok(r.same, 'echoed bytes differ')
      // Ciphertext through the relay: at least the payload each way.
      assert.ok(r.stats.bytesOut > ECHO_BYTES && r.stats.bytesIn > ECHO_BYTES, JSON.stringify(r.stats))
      t.diagnostic(`echo 256 KiB: ${r.ms.toFixed(0)} ms`)
    })

    await t.test('a dropped WebSocket resumes mid-echo with no loss', async () => {
      const r = await page.evaluate(async ({ key, n }) => {
        const before = relay.stats()
        const stream = await relay.connect(key)
        const bytes = new Uint8Array(n)
        for (let i = 0; i < n; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536))
        const r = await echo(relay, stream, bytes, { dropAt: n / 2 })
        stream.destroy()
        return { ...r, before, after: relay.stats() }
      }, { key: echoUp.publicKey, n: ECHO_BYTES })
      assert.ok(r.same, 'echoed bytes differ after the resume')
      assert.equal(r.after.resumes, r.before.resumes + 1, JSON.stringify(r))
      assert.equal(r.after.sessions, r.before.sessions, 'the session survived')
      assert.ok(r.after.sockets > r.before.sockets)
    })

    await t.test('a topic announced from the page is seen by a JS lookup', async () => {
      const topic2 = crypto.randomBytes(32).toString('hex')
      const { key, commits } = await page.evaluate(async (topic2) => {
        const kp = hyperwasm.RelayClient.keyPair()
        const { commits } = await relay.announce(topic2, kp)
        return { key: hex(kp.publicKey), commits }
      }, topic2)
      assert.ok(commits > 0, `no node stored the record (commits ${commits})`)
      const look = node(['lookup', '--topic', topic2, '--expect-key', key, '--bootstrap', bootstrap])
      procs.push(look)
      const peer = await look.next((l) => l.event === 'peer' && l.publicKey === key)
      assert.equal(peer.publicKey, key)
    })

    await t.test('a JS client connects to a server of the page', async () => {
      const serverKey = await page.evaluate(async () => {
        const kp = hyperwasm.RelayClient.keyPair()
        window.server = await relay.listen(kp)
        window.served = (async () => {
          for await (const stream of server) {
            (async () => {
              for await (const chunk of stream) await stream.write(chunk)
              await stream.end()
            })()
          }
        })()
        return hex(kp.publicKey)
      })
      const client = node(['connect', '--key', serverKey, '--bytes', String(100_000), '--bootstrap', bootstrap])
      procs.push(client)
      const echoed = await client.next((l) => l.event === 'echoed', 60_000)
      assert.equal(echoed.ok, true)
      assert.equal(echoed.bytes, 100_000)
      await page.evaluate(() => server.close())
    })

    await t.test('replicate a JS hypercore found on a topic, over a relay stream', async () => {
      const r = await page.evaluate(async ({ topic, key, peerKey, blocks }) => {
        const peer = await findPeer(relay, topic, peerKey)
        const stream = await relay.connect(peerKey, { relayAddresses: peer.relayAddresses })
        const core = await hyperwasm.Hypercore.openRemote('relay-replica-' + Math.random(), key)
        const repl = core.replicate(stream)
        await repl.downloaded()
        const got = []
        for (let i = 0; i < blocks; i++) got.push(hex(await core.get(i)))
        const stats = repl.stats()
        await repl.close()
        return { length: core.length, got, stats: { bytesIn: stats.bytesIn, bytesOut: stats.bytesOut } }
      }, { topic: seeded.topic, key: seeded.key, peerKey: seeded.publicKey, blocks: BLOCKS })
      assert.equal(r.length, BLOCKS)
      for (let i = 0; i < BLOCKS; i++) {
        assert.equal(r.got[i], Buffer.from(testBlock(0, i, BLOCK_SIZE)).toString('hex'), `block ${i}`)
      }
      assert.ok(r.stats.bytesIn > BLOCKS * BLOCK_SIZE, JSON.stringify(r.stats))
    })

    await t.test('errors carry .code', async () => {
      const r = await page.evaluate(async () => ({
        dial: await rejection(relay.connect(hyperwasm.RelayClient.keyPair().publicKey)),
        bad: await rejection((async () => relay.lookup('zz'))()),
        url: await rejection(hyperwasm.RelayClient.open('ws://127.0.0.1:1/relay'))
      }))
      assert.ok(r.dial && r.dial.isError && ['PEER_NOT_FOUND', 'PEER_CONNECTION_FAILED'].includes(r.dial.code), JSON.stringify(r.dial))
      assert.equal(r.bad.code, 'BAD_ARGUMENT')
      assert.equal(r.url.code, 'WEBSOCKET_FAILED')
    })

    await t.test('the demo page\'s relay panel: lookup and connect + echo', async () => {
      const demo = await context.newPage()
      demo.on('pageerror', (e) => errors.push('demo: ' + e.message))
      await demo.goto(base + '/web-demo/index.html')
      await demo.waitForFunction(() => window.hyperwasmReady || window.hyperwasmError, null, { timeout: 60_000 })
      assert.equal(await demo.inputValue('#relay-url'), `ws://${up.listening}/relay`)
      await demo.click('#relay-open')
      await demo.waitForFunction(() => document.getElementById('relay-log').textContent.includes('session open'), null, { timeout: 20_000 })
      await demo.fill('#relay-topic', topic)
      await demo.click('#relay-lookup')
      await demo.waitForFunction(() => document.getElementById('relay-log').textContent.includes('lookup done'), null, { timeout: 20_000 })
      assert.ok((await demo.textContent('#relay-log')).includes('peer ' + announced.publicKey))
      await demo.fill('#relay-peer', echoUp.publicKey)
      await demo.click('#relay-echo')
      await demo.waitForFunction(() => document.getElementById('relay-log').textContent.includes('echo: '), null, { timeout: 20_000 })
      const text = await demo.textContent('#relay-log')
      assert.match(text, /echo: "hello from hyperwasm at /)
      assert.ok(!text.includes('error'), text)
      await demo.close()
    })

    await page.evaluate(() => relay.close())
    // The browser logs the deliberately dead URL of the error test; nothing else may be logged.
    assert.deepEqual(errors.filter((e) => !e.includes("WebSocket connection to 'ws://127.0.0.1:1/relay' failed")), [])
  } finally {
    if (context) await context.close()
    for (const p of procs) p.stop()
    fs.rmSync(profile, { recursive: true, force: true })
  }
})
