// The entry: small on purpose, and `async`, so that it runs as soon as its few kilobytes arrive.
// The app itself (Vue, the stores, the router, the screens: app.ts) is a second module, preloaded
// by index.html alongside this one (vite.config.ts, `preloadApp`) and evaluated in its own task.
// First: a link's token (`/join#…`, `/reset#…`) leaves the address bar before anything reads it.
import './features/join/capture'
import { earlyJoinSent, startEarlyCall } from './boot/earlyCall'
import './styles.css'

/** The longest the app's evaluation waits for an early call's socket to open (see below). */
const OPEN_FIRST_MS = 100

/**
 * The app, as a script element rather than import(): a script delays the page's load event until
 * it has run, as the app did when it was the entry, so the first screen's code is asked for before
 * `load` (an import() delays nothing: a page could count as loaded with no screen yet). The build
 * marks the app's preload link (vite.config.ts); `npm run dev` has none and imports it.
 */
function loadApp(): void {
  const href = document.querySelector<HTMLLinkElement>('link[data-app]')?.href
  if (!href) {
    void import('./app')
    return
  }
  const script = document.createElement('script')
  script.type = 'module'
  script.crossOrigin = ''
  script.src = href
  document.head.append(script)
}

// Opened straight into a call (a notification's Answer, a reload during the call): the socket,
// the join and the camera start now, while the app's code still loads (boot/earlyCall.ts). The
// app's evaluation (one long task) waits until the socket has opened and sent its auth and join,
// for at most OPEN_FIRST_MS: an open event that falls inside that task waits for its end.
if (startEarlyCall()) {
  void earlyJoinSent(OPEN_FIRST_MS).then(() => {
    // The call screen's code, fetched now rather than once the app has run and its router asks.
    import('./features/calls/CallView.vue').catch(() => {}) // the router asks again, and says so
    loadApp()
  })
} else {
  loadApp()
}
