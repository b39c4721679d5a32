// The wasm build replicating with JS hypercore over a WebSocket, in headless Chromium:
//
//   page (hyperwasm-web, IndexedDB) ⇄ WebSocket ⇄ tests/js/ws-bridge.mjs ⇄ TCP ⇄ tests/js/ws-seed.mjs
//
// 1. transport: bytes through the page's WebSocket stream, the bridge and a TCP echo server
//    come back intact (backpressure, message reassembly, clean close);
// 2. download: a replica opened by key downloads a JS core (empty and 100 KiB blocks among
//    them), every block matches, the non-live connection closes itself;
// 3. live: a block appended on the JS side afterwards arrives in the browser;
// 4. persistence: after a page reload the blocks are read back from IndexedDB, no network;
// 5. upload: a core created in the browser is fetched and verified by a JS reader;
// 6. errors: a dead URL rejects `closed`/`downloaded()` with WEBSOCKET_FAILED, bad keys throw.
//
// Needs the release package (scripts/build-web.sh → wasm/web/pkg) and tests/js/node_modules
// (ws, corestore, playwright-core). Run with `node --test tests/browser/`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import { serve } from '../bench/browser/serve.mjs'
import { seedBlock, blockDigest } from '../js/ws-seed.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const require = createRequire(path.join(root, 'tests/js/package.json'))
const { chromium } = require('playwright-core')

const BLOCKS = Number(process.env.REPLICATE_BLOCKS || 300)
const LIVE = 5
const UPLOAD = 40

/** Rejects if `promise` takes longer than `ms`. */
function within(ms, promise, what) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** A node helper process speaking JSON lines on stdout; `next(pred)` waits for a line. */
function start(script, args) {
  const child = spawn(process.execPath, [path.join(root, script), ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
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
      if (err) throw new Error(`${script}: ${err.error}`)
      if (exited) throw new Error(`${script} exited: ${stderr.trim()}`)
      await new Promise((resolve) => wake.push(resolve))
    }
  })(), `${script} ${args.join(' ')}`)
  child.send = (obj) => child.stdin.write(JSON.stringify(obj) + '\n')
  child.stop = () => { if (!exited) child.stdin.end() }
  return child
}

async function bridgeTo(port, procs) {
  const bridge = start('tests/js/ws-bridge.mjs', ['--target', `127.0.0.1:${port}`])
  procs.push(bridge)
  return (await bridge.next((l) => l.ready)).url
}

/** A TCP echo server on 127.0.0.1. */
function echoServer() {
  const server = net.createServer((socket) => socket.pipe(socket))
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

/** A loopback port nothing listens on. */
async function deadPort() {
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function ready(page) {
  await page.waitForFunction(() => window.hyperwasmReady || window.hyperwasmError, null, { timeout: 60_000 })
  const error = await page.evaluate(() => window.hyperwasmError ? String(window.hyperwasmError) : null)
  assert.equal(error, null, 'test page failed to load the wasm package')
}

test('replication with JS hypercore over a WebSocket bridge', async (t) => {
  const { server, url } = await serve(root)
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'hyperwasm-replicate-'))
  const procs = []
  const echo = await echoServer()
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run']
  })
  const errors = []
  try {
    const page = context.pages()[0] || await context.newPage()
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()) })
    await page.goto(url + '/tests/browser/replicate.html')
    await ready(page)

    await t.test('transport: 8 MiB through the page WebSocket, the bridge and a TCP echo', async () => {
      const wsUrl = await bridgeTo(echo.address().port, procs)
      const line = await within(60_000, page.evaluate(([u]) => window.hyperwasm.bench_ws_echo(u, 8 << 20, 65536), [wsUrl]), 'echo')
      const result = JSON.parse(line)
      assert.equal(result.bench, 'browser_ws_echo')
      assert.equal(result.bytes, 8 << 20)
      assert.ok(result.value > 0)
    })

    const seed = start('tests/js/ws-seed.mjs', ['seed', '--blocks', String(BLOCKS)])
    procs.push(seed)
    const seeded = await seed.next((l) => l.ready)
    const seedUrl = await bridgeTo(seeded.port, procs)
    const expected = (from, to) => Array.from({ length: to - from }, (_, k) => blockDigest(seedBlock(from + k)))

    await t.test('download: a replica opened by key fetches every block, then closes (not live)', async () => {
      const res = await within(60_000, page.evaluate(async ([key, wsUrl]) => {
        const core = await window.hyperwasm.Hypercore.openRemote('replica', key)
        const before = core.length
        const r = core.replicate(wsUrl)
        await r.downloaded()
        const length = core.length
        const blocks = await window.digests(core, 0, length)
        const stats = window.plainStats(await r.closed)
        const info = await core.info()
        window.replica = core
        return { before, length, byteLength: core.byteLength, writable: core.writable, blocks, stats, contiguous: info.contiguousLength, url: r.url }
      }, [seeded.key, seedUrl]), 'download')
      assert.equal(res.before, 0)
      assert.equal(res.length, BLOCKS)
      assert.equal(res.byteLength, seeded.byteLength)
      assert.equal(res.writable, false)
      assert.equal(res.contiguous, BLOCKS)
      assert.deepEqual(res.blocks, expected(0, BLOCKS))
      assert.equal(res.stats.open, false)
      assert.equal(res.stats.blocksDownloaded, BLOCKS)
      assert.ok(res.stats.bytesIn > seeded.byteLength, `bytesIn ${res.stats.bytesIn}`)
      assert.ok(res.stats.bytesOut > 0)
      assert.match(res.stats.remotePublicKey, /^[0-9a-f]{64}$/)
      assert.deepEqual(res.stats.peersClosed, [])
      assert.equal(res.url, seedUrl)
    })

    await t.test('live: blocks appended by the JS writer arrive in the browser', async () => {
      await within(30_000, page.evaluate(async ([wsUrl]) => {
        window.live = window.replica.replicate(wsUrl, { live: true })
        await window.live.downloaded()
      }, [seedUrl]), 'live sync')
      seed.send({ append: LIVE })
      assert.equal((await seed.next((l) => 'appended' in l)).length, BLOCKS + LIVE)
      const res = await within(30_000, page.evaluate(async ([from, to]) => {
        const core = window.replica
        const length = await core.whenLength(to)
        await window.waitBlocks(core, from, to)
        const blocks = await window.digests(core, from, to)
        const open = window.live.stats().open
        await window.live.close()
        const stats = window.plainStats(await window.live.closed)
        await core.close()
        return { length, blocks, open, stats }
      }, [BLOCKS, BLOCKS + LIVE]), 'live append')
      assert.equal(res.length, BLOCKS + LIVE)
      assert.deepEqual(res.blocks, expected(BLOCKS, BLOCKS + LIVE))
      assert.equal(res.open, true, 'a live replication stays open')
      assert.equal(res.stats.open, false)
      assert.ok(res.stats.blocksDownloaded >= LIVE)
    })

    await t.test('persistence: after a reload the replica is read from IndexedDB', async () => {
      await page.reload()
      await ready(page)
      const res = await page.evaluate(async ([key]) => {
        const core = await window.hyperwasm.Hypercore.openRemote('replica', key)
        const out = { length: core.length, writable: core.writable, key: Array.from(core.key, (b) => b.toString(16).padStart(2, '0')).join('') }
        out.blocks = await window.digests(core, 0, core.length)
        await core.close()
        return out
      }, [seeded.key])
      assert.equal(res.key, seeded.key)
      assert.equal(res.length, BLOCKS + LIVE)
      assert.equal(res.writable, false)
      assert.deepEqual(res.blocks, expected(0, BLOCKS + LIVE))
    })

    await t.test('upload: a core written in the browser is fetched and verified by a JS reader', async () => {
      const blocks = Array.from({ length: UPLOAD }, (_, i) => seedBlock(i).toString('base64'))
      const key = await page.evaluate(async ([blocks]) => {
        const core = await window.hyperwasm.Hypercore.create('writer', {})
        await core.append(blocks.map(window.fromBase64))
        window.writer = core
        return Array.from(core.key, (b) => b.toString(16).padStart(2, '0')).join('')
      }, [blocks])
      const reader = start('tests/js/ws-seed.mjs', ['read', '--key', key, '--length', String(UPLOAD)])
      procs.push(reader)
      const readerUrl = await bridgeTo((await reader.next((l) => l.ready)).port, procs)
      await page.evaluate(([wsUrl]) => { window.upload = window.writer.replicate(wsUrl) }, [readerUrl])
      const done = await reader.next((l) => l.done, 60_000)
      assert.equal(done.length, UPLOAD)
      assert.deepEqual(done.blocks, expected(0, UPLOAD))
      // The reader ends the connection: `closed` resolves (a clean end) with what was uploaded.
      const stats = await within(30_000, page.evaluate(async () => {
        const r = window.upload
        const downloaded = await window.rejection(r.downloaded())
        const stats = window.plainStats(await r.closed)
        await window.writer.close()
        return { downloaded, ...stats }
      }), 'upload close')
      assert.equal(stats.downloaded, null, 'downloaded() resolves at once for a writable core')
      assert.equal(stats.blocksUploaded, UPLOAD)
      assert.equal(stats.blocksDownloaded, 0)
    })

    await t.test('errors: dead URL, bad arguments, closed core', async () => {
      const dead = `ws://127.0.0.1:${await deadPort()}`
      const res = await within(30_000, page.evaluate(async ([deadUrl, key]) => {
        const { Hypercore } = window.hyperwasm
        const core = await Hypercore.openRemote('dead-end', key)
        const r = core.replicate(deadUrl, { openTimeout: 5000 })
        const closed = await window.rejection(r.closed)
        const downloaded = await window.rejection(r.downloaded())
        const badOption = await window.rejection((async () => core.replicate(deadUrl, { start: 5, end: 2 }))())
        const badUrl = await window.rejection(core.replicate('ftp://127.0.0.1/').closed)
        const badKey = await window.rejection(Hypercore.openRemote('bad-key', 'abcd'))
        const conflict = await window.rejection(Hypercore.openRemote('dead-end', '00'.repeat(32)))
        await core.close()
        const afterClose = await window.rejection((async () => core.replicate(deadUrl))())
        const waitAfterClose = await window.rejection(core.whenLength(1))
        return { closed, downloaded, badOption, badUrl, badKey, conflict, afterClose, waitAfterClose, stats: r.stats() }
      }, [dead, seeded.key]), 'errors')
      assert.equal(res.closed.code, 'WEBSOCKET_FAILED')
      assert.equal(res.closed.isError, true)
      assert.match(res.closed.message, /failed to open/)
      assert.equal(res.downloaded.code, 'WEBSOCKET_FAILED')
      assert.equal(res.badOption.code, 'BAD_ARGUMENT')
      assert.equal(res.badUrl.code, 'BAD_ARGUMENT')
      assert.equal(res.badKey.code, 'BAD_ARGUMENT')
      assert.equal(res.conflict.code, 'STORAGE_CONFLICT')
      assert.equal(res.afterClose.code, 'SESSION_CLOSED')
      assert.equal(res.waitAfterClose.code, 'SESSION_CLOSED')
      assert.equal(res.stats.open, false)
      assert.equal(res.stats.bytesIn, 0)
    })

    assert.deepEqual(errors.filter((e) => !/WebSocket connection to .* failed/.test(e)), [])
  } finally {
    await context.close()
    for (const p of procs) p.stop()
    echo.close()
    server.close()
    fs.rmSync(profile, { recursive: true, force: true })
  }
})
