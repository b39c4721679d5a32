// The demo: one hypercore named "hyperwasm-demo" persisted in IndexedDB, driven through the
// package's `Hypercore` class. Every append is signed; a reload reopens the same core.
import init, * as hyperwasm from './pkg/hyperwasm_web.js'

const NAME = 'hyperwasm-demo'
const SHOWN = 50
const $ = (id) => document.getElementById(id)
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
const text = new TextDecoder()
let core = null

function status (message, ok = true) {
  $('status').textContent = message
  $('status').className = ok ? 'ok' : 'err'
}

async function openCore () {
  try {
    return await hyperwasm.Hypercore.open(NAME)
  } catch (err) {
    if (err.code !== 'STORAGE_EMPTY') throw err
    return await hyperwasm.Hypercore.create(NAME)
  }
}

async function render () {
  $('key').textContent = hex(core.key)
  $('dkey').textContent = hex(core.discoveryKey)
  $('stats').textContent = `${core.length} entries / ${core.byteLength} bytes / fork ${core.fork}`
  const list = $('entries')
  const first = Math.max(0, core.length - SHOWN)
  const blocks = await Promise.all(Array.from({ length: core.length - first }, (_, i) => core.get(first + i)))
  list.replaceChildren(...blocks.map((b) => {
    const li = document.createElement('li')
    li.textContent = b === null ? '(not stored locally)' : text.decode(b)
    return li
  }))
  list.start = first
  for (const id of ['append', 'truncate', 'reset']) $(id).disabled = false
  $('truncate').disabled = core.length === 0
}

async function guarded (fn) {
  try {
    await fn()
  } catch (err) {
    status(`error${err.code ? ' ' + err.code : ''}: ${err.message || err}`, false)
  }
}

$('append-form').addEventListener('submit', (e) => {
  e.preventDefault()
  const value = $('entry').value.trim()
  if (!value) return
  guarded(async () => {
    const length = await core.append(value)
    $('entry').value = ''
    status(`appended entry ${length - 1}; the signed head is in IndexedDB`)
    await render()
  })
})

$('truncate').addEventListener('click', () => guarded(async () => {
  await core.truncate(core.length - 1)
  status(`truncated to ${core.length} (fork ${core.fork})`)
  await render()
}))

$('reset').addEventListener('click', () => guarded(async () => {
  await core.close()
  await hyperwasm.Hypercore.deleteStorage(NAME)
  core = await hyperwasm.Hypercore.create(NAME)
  status('deleted; a new core with a new key was created')
  await render()
}))

try {
  await init()
  window.hyperwasm = hyperwasm
  core = await openCore()
  window.demoCore = core
  status(`hyperwasm-web ${hyperwasm.version()} ready; core "${NAME}" opened from IndexedDB`)
  await render()
  window.hyperwasmReady = true
} catch (err) {
  window.hyperwasmError = err
  status(`failed: ${err.message || err}`, false)
}
