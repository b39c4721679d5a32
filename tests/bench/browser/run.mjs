#!/usr/bin/env node
// Drives headless Chromium (playwright-core, /usr/bin/chromium) against a page that loads the
// hyperwasm-web package, calls one exported async function and prints its result on stdout.
//
//   node tests/bench/browser/run.mjs [--page /tests/bench/browser/index.html] <export> [json args…]
//   node tests/bench/browser/run.mjs bench_idb_put 5000 256
//   node tests/bench/browser/run.mjs --page /web-demo/index.html selftest
//
// The page must set `window.hyperwasm` (the module namespace) and `window.hyperwasmReady = true`
// (or `window.hyperwasmError`). A persistent profile in a fresh temp dir makes IndexedDB hit the
// disk as in a real browser (an incognito context keeps it in memory). Exit code 1 on any error.
import { createRequire } from 'node:module'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { serve } from './serve.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const require = createRequire(path.join(root, 'tests/js/package.json'))
const { chromium } = require('playwright-core')

const argv = process.argv.slice(2)
let page = '/tests/bench/browser/index.html'
if (argv[0] === '--page') { page = argv[1]; argv.splice(0, 2) }
const [fn, ...rawArgs] = argv
if (!fn) { console.error('usage: run.mjs [--page PATH] <export> [json args…]'); process.exit(2) }
const args = rawArgs.map((a) => JSON.parse(a))

const { server, url } = await serve(root)
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'hyperwasm-chromium-'))
let context
let code = 0
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run']
  })
  const tab = context.pages()[0] || await context.newPage()
  tab.on('console', (m) => { if (m.type() === 'error') console.error('[page]', m.text()) })
  tab.on('pageerror', (e) => console.error('[page error]', e.message))
  await tab.goto(url + page)
  await tab.waitForFunction(() => window.hyperwasmReady || window.hyperwasmError, null, { timeout: 60_000 })
  const loadError = await tab.evaluate(() => window.hyperwasmError && String(window.hyperwasmError))
  if (loadError) throw new Error('page failed to load the wasm package: ' + loadError)
  const result = await tab.evaluate(async ([fn, args]) => {
    const f = window.hyperwasm[fn]
    if (typeof f !== 'function') throw new Error(`no export named ${fn}`)
    return await f(...args)
  }, [fn, args])
  console.log(typeof result === 'string' ? result : JSON.stringify(result))
} catch (err) {
  console.error('run.mjs:', err.message || err)
  code = 1
} finally {
  if (context) await context.close()
  server.close()
  fs.rmSync(profile, { recursive: true, force: true })
}
process.exit(code)
