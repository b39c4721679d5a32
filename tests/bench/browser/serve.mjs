// Tiny static file server for the repository root (127.0.0.1, random port), with the MIME
// types browsers insist on for ES modules and WebAssembly.
import http from 'node:http'
import fs from 'node:fs'
import path from 'node:path'

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.css': 'text/css',
  '.ts': 'text/plain'
}

export function serve (root) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x')
    const file = path.join(root, path.normalize(decodeURIComponent(url.pathname)))
    if (!file.startsWith(root)) { res.writeHead(403).end(); return }
    fs.readFile(file, (err, data) => {
      if (err) { res.writeHead(404).end('not found'); return }
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' })
      res.end(data)
    })
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }))
  })
}
