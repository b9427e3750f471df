/**
 * One-time tokens that arrive in the address bar's fragment: a visit's join link (`/join#<token>`)
 * and a password link (`/reset#<token>`). A fragment never reaches a server (no access log, no
 * Referer), and this takes it out of the address bar and the history entry at once, before the
 * router or any other code runs; the page that needs it posts it in a request body.
 */
export type LinkPath = '/join' | '/reset'

const PATHS: readonly string[] = ['/join', '/reset']
const taken = new Map<string, string>()

/** Take the token from the current address, if it is one of ours, and drop it from the address bar. */
export function captureLinkToken(loc: Location = window.location, hist: History = window.history): void {
  if (!PATHS.includes(loc.pathname) || loc.hash.length < 2) return
  let token = loc.hash.slice(1)
  try {
    token = decodeURIComponent(token)
  } catch {
    /* not percent-encoded text: kept as it came, the server will say it is not a link of ours */
  }
  taken.set(loc.pathname, token)
  hist.replaceState(hist.state, '', loc.pathname + loc.search)
}

/** The token captured for this page, handed out once (a reload finds none: open the email again). */
export function takeLinkToken(path: LinkPath): string | null {
  const token = taken.get(path) ?? null
  taken.delete(path)
  return token
}
