// An interactive JS Protomux peer: checks that frames produced elsewhere (the Rust Mux) are
// understood by the real JS implementation, and answers them.
//
// Usage: node tests/js/check-mux-frames.mjs   (JSON lines on stdin, one JSON line out per line in)
//   first line:  {"name": "b", "policy": {...}}          policy as in lib/mux-peer.mjs; answered {"ready": true}
//   then:        {"frames": ["hex", ...], "steps": [["open", {...}], ["release"], ...]}
//                frames are delivered in order (each as its own macrotask), then the steps run;
//   answer:      {"writes": ["hex", ...], "events": [...], "destroyed": null | "message"}
//                everything the JS side wrote and saw since the previous answer.
import readline from 'readline'
import { Side, settle, macrotask } from './lib/mux-peer.mjs'
import { unhex } from './lib/common.mjs'

let side = null
let writes = []
let events = []
let destroyed = null

function sink(entry) {
  if (entry.write !== undefined) writes.push(entry.hex)
  else if (entry.event !== undefined) events.push(entry)
  else if (entry.destroy !== undefined) destroyed = entry.error || 'destroyed'
}

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of rl) {
  if (line.trim() === '') continue
  const msg = JSON.parse(line)
  if (side === null) {
    side = new Side(msg.name || 'b', msg.policy, sink)
    out({ ready: true })
    continue
  }
  for (const f of msg.frames || []) {
    await macrotask(() => side.deliver(unhex(f)))
    await settle()
  }
  for (const [verb, ...args] of msg.steps || []) {
    await macrotask(() => side.step(verb, ...args))
    await settle()
  }
  await settle()
  out({ writes, events, destroyed })
  writes = []
  events = []
}
