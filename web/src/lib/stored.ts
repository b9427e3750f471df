/**
 * What the session store keeps in sessionStorage (stores/session.ts), readable without the store:
 * the entry reads it before Vue and Pinia have loaded, to start a call opened from nothing
 * (boot/earlyCall.ts).
 */
export const TOKEN_KEY = 'televisit.token'
export const USER_KEY = 'televisit.user'
export const ENROL_KEY = 'televisit.mfaEnrollment'
export const SCOPE_KEY = 'televisit.scope'

/** The JSON kept under `key` in sessionStorage, or null (absent, unreadable, or storage refused). */
export function readStored<T>(key: string): T | null {
  try {
    const raw = sessionStorage.getItem(key)
    return raw ? (JSON.parse(raw) as T) : null
  } catch {
    return null
  }
}
