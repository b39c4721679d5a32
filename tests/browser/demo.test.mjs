// The demo page in headless Chromium, as a person would use it: type entries, click Append,
// reload the page, and find the same core (same key) with the same entries, read back from
// IndexedDB; then truncate through the UI. Run with `node --test tests/browser/`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { serve } from '../bench/browser/serve.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const require = createRequire(path.join(root, 'tests/js/package.json'))
const { chromium } = require('playwright-core')

async function ready (page) {
  await page.waitForFunction(() => window.hyperwasmReady || window.hyperwasmError, null, { timeout: 60_000 })
  const error = await page.evaluate(() => window.hyperwasmError ? String(window.hyperwasmError) : null)
  assert.equal(error, null, 'demo page failed to load')
}

test('demo: entries appended in the page survive a reload', async () => {
  const { server, url } = await serve(root)
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'hyperwasm-demo-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run']
  })
  try {
    const page = context.pages()[0] || await context.newPage()
    const errors = []
    page.on('pageerror', (e) => errors.push(e.message))
    await page.goto(url + '/web-demo/index.html')
    await ready(page)
    assert.equal(await page.textContent('#stats'), '0 entries / 0 bytes / fork 0')
    const key = await page.textContent('#key')
    assert.match(key, /^[0-9a-f]{64}$/)

    for (const entry of ['first entry', 'zweiter Eintrag ✓', 'third']) {
      await page.fill('#entry', entry)
      await page.click('#append')
      await page.waitForFunction((n) => document.querySelectorAll('#entries li').length === n,
        ['first entry', 'zweiter Eintrag ✓', 'third'].indexOf(entry) + 1)
    }
    const bytes = Buffer.byteLength('first entry') + Buffer.byteLength('zweiter Eintrag ✓') + Buffer.byteLength('third')
    assert.equal(await page.textContent('#stats'), `3 entries / ${bytes} bytes / fork 0`)

    await page.reload()
    await ready(page)
    assert.equal(await page.textContent('#key'), key, 'the same core is reopened after a reload')
    assert.equal(await page.textContent('#stats'), `3 entries / ${bytes} bytes / fork 0`)
    assert.deepEqual(await page.$$eval('#entries li', (els) => els.map((e) => e.textContent)),
      ['first entry', 'zweiter Eintrag ✓', 'third'])

    await page.click('#truncate')
    await page.waitForFunction(() => document.querySelectorAll('#entries li').length === 2)
    assert.match(await page.textContent('#stats'), /^2 entries \/ \d+ bytes \/ fork 1$/)
    await page.reload()
    await ready(page)
    assert.match(await page.textContent('#stats'), /^2 entries \/ \d+ bytes \/ fork 1$/)
    if (process.env.DEMO_SCREENSHOT) await page.screenshot({ path: process.env.DEMO_SCREENSHOT })
    assert.deepEqual(errors, [])
  } finally {
    await context.close()
    server.close()
    fs.rmSync(profile, { recursive: true, force: true })
  }
})
