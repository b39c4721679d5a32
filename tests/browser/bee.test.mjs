// The release package's JS `Hyperbee` class in headless Chromium (playwright-core):
//
// 1. a page uses the API the way an app would (utf-8 keys, json values, put/get, ranges, a sub,
//    a batch, history), reloads, and finds every entry again in IndexedDB;
// 2. a JS hyperbee (hyperbee 2.27.3 on Corestore, tests/js/ws-seed.mjs bee) is read sparsely
//    in the page over a WebSocket (tests/js/ws-bridge.mjs, `replicate(url, { sparse: true })`):
//    gets, a range, the sub, the header, a put made on the JS side afterwards; only the blocks
//    those reads need are stored.
//
// Needs the release package (scripts/build-web.sh → wasm/web/pkg) and tests/js/node_modules.
// Run with `node --test tests/browser/`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import { serve } from '../bench/browser/serve.mjs'
import { beeKey, beeValue } from '../js/ws-seed.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const require = createRequire(path.join(root, 'tests/js/package.json'))
const { chromium } = require('playwright-core')

const SEED_KEYS = Number(process.env.BEE_SEED_KEYS || 3000)

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
  child.next = (pred, ms = 60_000) => within(ms, (async () => {
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

async function ready(page) {
  await page.waitForFunction(() => window.hyperwasmReady || window.hyperwasmError, null, { timeout: 60_000 })
  const error = await page.evaluate(() => window.hyperwasmError ? String(window.hyperwasmError) : null)
  assert.equal(error, null, 'test page failed to load the wasm package')
}

test('Hyperbee in the page: the JS API on IndexedDB, and a JS hyperbee replicated in', async (t) => {
  const { server, url } = await serve(root)
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'hyperwasm-bee-'))
  const procs = []
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
    await page.goto(url + '/tests/browser/bee.html')
    await ready(page)

    await t.test('the JS API: put/get, ranges, sub, batch, history, json', async () => {
      const res = await within(60_000, page.evaluate(async () => {
        const { Hypercore, Hyperbee } = window.hyperwasm
        await Hypercore.deleteStorage('page-bee')
        const core = await Hypercore.create('page-bee')
        const db = new Hyperbee(core, { keyEncoding: 'utf-8', valueEncoding: 'json' })
        await db.put('fruit/apple', { color: 'red', n: 3 })
        await db.put('fruit/banana', { color: 'yellow', n: 1.5 })
        await db.put('fruit/cherry', ['a', 'b'])
        await db.put('veg/leek', null)
        await db.del('fruit/banana')
        const users = db.sub('users', { valueEncoding: 'utf-8' })
        const b = users.batch()
        for (const name of ['ann', 'bob', 'cy']) await b.put(name, name.toUpperCase())
        await b.flush()
        const out = {
          apple: await db.get('fruit/apple'),
          banana: await db.get('fruit/banana'),
          fruit: await window.collect(db.createReadStream({ gte: 'fruit/', lt: 'fruit0' })),
          // Whole-bee scans also meet the sub's utf-8 values: read those as bytes (JSON would fail, as in JS).
          reversed: (await window.collect(db.createReadStream({ reverse: true, limit: 2 }, { valueEncoding: 'binary' }))).map((e) => e.key),
          users: await window.collect(users.createReadStream()),
          peek: await db.peek({ gt: 'fruit/apple' }),
          history: (await window.collect(db.createHistoryStream({ valueEncoding: 'binary' }))).map((e) => [e.type, e.seq, e.key]),
          badJson: await window.rejection(window.collect(db.createReadStream({ gte: 'users' }))),
          version: db.version,
          length: core.length,
          header: (await db.getHeader()).protocol,
          notWritable: await window.rejection(db.checkout(2).put('x', 1))
        }
        await db.close()
        return out
      }), 'page API')
      assert.deepEqual(res.apple, { seq: 1, key: 'fruit/apple', value: { color: 'red', n: 3 } })
      assert.equal(res.banana, null)
      assert.deepEqual(res.fruit.map((e) => [e.key, e.value]), [['fruit/apple', { color: 'red', n: 3 }], ['fruit/cherry', ['a', 'b']]])
      assert.deepEqual(res.reversed, ['veg/leek', 'users\u0000cy'])
      assert.deepEqual(res.users.map((e) => [e.key, e.value]), [['ann', 'ANN'], ['bob', 'BOB'], ['cy', 'CY']])
      assert.equal(res.peek.key, 'fruit/cherry')
      assert.deepEqual(res.history, [
        ['put', 1, 'fruit/apple'], ['put', 2, 'fruit/banana'], ['put', 3, 'fruit/cherry'], ['put', 4, 'veg/leek'],
        ['del', 5, 'fruit/banana'], ['put', 6, 'users\u0000ann'], ['put', 7, 'users\u0000bob'], ['put', 8, 'users\u0000cy']
      ])
      assert.equal(res.version, 9)
      assert.equal(res.length, 9)
      assert.equal(res.header, 'hyperbee')
      assert.equal(res.notWritable.code, 'SESSION_NOT_WRITABLE')
      assert.equal(res.badJson.code, 'DECODING_ERROR')
    })

    await t.test('after a reload the bee is read back from IndexedDB', async () => {
      await page.reload()
      await ready(page)
      const res = await within(60_000, page.evaluate(async () => {
        const { Hypercore, Hyperbee } = window.hyperwasm
        const core = await Hypercore.open('page-bee')
        const db = new Hyperbee(core, { keyEncoding: 'utf-8', valueEncoding: 'json' })
        const length = core.length
        // Cold reads (nothing cached after the reload) while the loop body writes to the same
        // core: the stream's read-ahead must not hold the core while it waits for JS.
        const copied = []
        for await (const e of db.createReadStream({ gte: 'fruit/', lt: 'fruit0' })) {
          await db.put('copy/' + e.key, e.value)
          copied.push(e.key)
        }
        const out = {
          length,
          copied,
          cherry: await db.get('fruit/cherry'),
          all: (await window.collect(db.createReadStream({}, { valueEncoding: 'binary' }))).map((e) => e.key),
          bob: (await db.sub('users', { valueEncoding: 'utf-8' }).get('bob')).value
        }
        await db.put('after-reload', 1)
        out.lengthAfter = core.length
        await db.close()
        await Hypercore.deleteStorage('page-bee')
        return out
      }), 'reload')
      assert.equal(res.length, 9)
      assert.deepEqual(res.copied, ['fruit/apple', 'fruit/cherry'])
      assert.deepEqual(res.cherry, { seq: 3, key: 'fruit/cherry', value: ['a', 'b'] })
      assert.deepEqual(res.all, ['copy/fruit/apple', 'copy/fruit/cherry', 'fruit/apple', 'fruit/cherry', 'users\u0000ann', 'users\u0000bob', 'users\u0000cy', 'veg/leek'])
      assert.equal(res.bob, 'BOB')
      assert.equal(res.lengthAfter, 12)
    })

    const seed = start('tests/js/ws-seed.mjs', ['bee', '--keys', String(SEED_KEYS)])
    procs.push(seed)
    const seeded = await seed.next((l) => l.ready)
    const bridge = start('tests/js/ws-bridge.mjs', ['--target', `127.0.0.1:${seeded.port}`])
    procs.push(bridge)
    const wsUrl = (await bridge.next((l) => l.ready)).url

    await t.test('a JS hyperbee read sparsely over a WebSocket: only the blocks the reads need', async () => {
      const probes = [0, 1, 999, 1000, SEED_KEYS - 1, Math.floor(SEED_KEYS / 3)]
      const res = await within(120_000, page.evaluate(async ([key, wsUrl, probes, first, last]) => {
        const { Hypercore, Hyperbee } = window.hyperwasm
        await Hypercore.deleteStorage('bee-replica')
        const core = await Hypercore.openRemote('bee-replica', key)
        window.beeRepl = core.replicate(wsUrl, { sparse: true })
        const db = new Hyperbee(core, { keyEncoding: 'utf-8', valueEncoding: 'json' })
        window.beeReplica = { core, db }
        // Nothing is local yet: a read that may not wait fails at once.
        const noWait = await window.rejection(db.get(probes[0], { wait: false }))
        const gets = []
        for (const k of probes) gets.push(await db.get(k))
        const afterGets = (await core.info()).blocksStored
        return {
          noWait,
          length: core.length,
          version: db.version,
          gets,
          afterGets,
          missing: await db.get('nope'),
          range: await window.collect(db.createReadStream({ gte: first, lte: last })),
          count: (await db.sub('meta').get('count')).value,
          header: (await db.getHeader()).protocol,
          writable: db.writable,
          stored: (await core.info()).blocksStored
        }
      }, [seeded.key, wsUrl, probes.map(beeKey), beeKey(10), beeKey(14)]), 'sparse bee')
      assert.equal(res.noWait.code, 'BLOCK_NOT_AVAILABLE')
      assert.equal(res.length, seeded.length)
      assert.equal(res.version, seeded.version)
      assert.deepEqual(res.gets.map((e) => [e.key, e.value]), probes.map((i) => [beeKey(i), beeValue(i)]))
      assert.equal(res.missing, null)
      assert.deepEqual(res.range.map((e) => [e.key, e.value]), [10, 11, 12, 13, 14].map((i) => [beeKey(i), beeValue(i)]))
      assert.equal(res.count, SEED_KEYS)
      assert.equal(res.header, 'hyperbee')
      assert.equal(res.writable, false)
      // A get walks one root-to-leaf path (plus hyperbee's preloads of each node's children).
      assert.ok(res.afterGets > 0 && res.afterGets < 40 * probes.length, `${res.afterGets} blocks stored after ${probes.length} gets`)
      assert.ok(res.stored < res.length / 4, `sparse: ${res.stored} of ${res.length} blocks stored`)

      // A put on the JS side: the next read of the replica sees it (reads update first).
      seed.send({ put: { key: 'live-key', value: { live: true } } })
      const put = await seed.next((l) => l.put === 'live-key')
      const live = await within(30_000, page.evaluate(async ([length]) => {
        const { core, db } = window.beeReplica
        await core.whenLength(length)
        const out = { entry: await db.get('live-key'), version: db.version }
        await window.beeRepl.close()
        await core.close()
        return out
      }, [put.length]), 'live put')
      assert.deepEqual(live.entry.value, { live: true })
      assert.equal(live.version, put.length)
    })

    assert.deepEqual(errors, [], 'no page errors')
  } finally {
    for (const p of procs) p.stop()
    await context.close()
    server.close()
    fs.rmSync(profile, { recursive: true, force: true })
  }
})
