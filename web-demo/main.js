// Loads the hyperwasm-web package (built by `make build-web` into web-demo/pkg/) and shows it works.
import init, * as hyperwasm from './pkg/hyperwasm_web.js'

const show = (id, text, ok) => {
  const el = document.getElementById(id)
  el.textContent = text
  el.className = ok ? 'ok' : 'err'
}

try {
  await init()
  show('load', `hyperwasm-web ${hyperwasm.version()} loaded`, true)
  window.hyperwasm = hyperwasm
  window.hyperwasmReady = true
} catch (err) {
  window.hyperwasmError = err
  show('load', `failed: ${err}`, false)
}

if (window.hyperwasmReady) {
  try {
    const ok = await hyperwasm.selftest()
    show('idb', ok ? 'ok (write, read back, delete)' : 'read back a different value', ok)
  } catch (err) {
    show('idb', `failed: ${err}`, false)
  }
}
