// The relay panel of the demo: a RelayClient (hyperwasm-web) to the relay that serves this
// page (default: this origin + /relay), looking up and announcing topics and echoing bytes
// through a HyperDHT connection. Independent of the hypercore demo in main.js.
import init, * as hyperwasm from './pkg/hyperwasm_web.js'

const $ = (id) => document.getElementById(id)
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
const addr = (a) => `${a.host}:${a.port}`
let relay = null

$('relay-url').value = location.origin.replace(/^http/, 'ws') + '/relay'

function log (line, ok = true) {
  const el = document.createElement('div')
  el.textContent = line
  el.className = ok ? '' : 'err'
  $('relay-log').prepend(el)
}

async function guarded (fn) {
  try {
    await fn()
  } catch (err) {
    log(`error${err.code ? ' ' + err.code : ''}: ${err.message || err}`, false)
  }
}

function topic () {
  const t = $('relay-topic').value.trim()
  if (t) return t
  if (window.demoCore) return hex(window.demoCore.discoveryKey)
  throw new Error('enter a topic')
}

function showState () {
  if (!relay) return
  const s = relay.stats()
  $('relay-state').textContent = `${s.connected ? 'connected' : 'reconnecting…'}; sessions ${s.sessions}, ` +
    `resumed ${s.resumes}×, sockets ${s.sockets}, streams ${s.streams}`
}

$('relay-form').addEventListener('submit', (e) => {
  e.preventDefault()
  guarded(async () => {
    await init()
    if (relay) await relay.close()
    relay = null
    const url = $('relay-url').value.trim()
    log(`connecting to ${url}…`)
    relay = await hyperwasm.RelayClient.open(url)
    window.demoRelay = relay
    $('relay-key').textContent = hex(relay.publicKey)
    for (const id of ['relay-lookup', 'relay-announce', 'relay-echo']) $(id).disabled = false
    log('session open')
    showState()
  })
})

$('relay-topic-form').addEventListener('submit', (e) => {
  e.preventDefault()
  guarded(async () => {
    const t = topic()
    log(`lookup ${t.slice(0, 16)}…`)
    let replies = 0
    const seen = new Set()
    for await (const { from, peers } of relay.lookup(t)) {
      replies++
      for (const p of peers) {
        const k = hex(p.publicKey)
        if (seen.has(k)) continue
        seen.add(k)
        log(`  peer ${k} via [${p.relayAddresses.map(addr).join(', ')}] (from ${addr(from)})`)
      }
    }
    log(`lookup done: ${replies} nodes answered, ${seen.size} peers`)
  })
})

$('relay-announce').addEventListener('click', () => guarded(async () => {
  const t = topic()
  log(`announcing ${hex(relay.publicKey).slice(0, 16)}… under ${t.slice(0, 16)}…`)
  const { commits } = await relay.announce(t)
  log(`announced: ${commits} nodes stored the record (signed in this page)`)
}))

$('relay-echo-form').addEventListener('submit', (e) => {
  e.preventDefault()
  guarded(async () => {
    const key = $('relay-peer').value.trim()
    log(`connecting to ${key.slice(0, 16)}…`)
    const t0 = performance.now()
    const stream = await relay.connect(key)
    log(`connected in ${(performance.now() - t0).toFixed(0)} ms (remote ${addr(stream.remoteAddress)})`)
    const message = new TextEncoder().encode(`hello from hyperwasm at ${new Date().toISOString()}`)
    await stream.write(message)
    let back = new Uint8Array(0)
    while (back.length < message.length) {
      const chunk = await stream.read()
      if (chunk === null) break
      back = new Uint8Array([...back, ...chunk])
    }
    log(`echo: "${new TextDecoder().decode(back)}"`, back.length === message.length)
    await stream.end()
    stream.destroy()
  })
})

setInterval(showState, 1000)
