/** A signed-in person for unit tests, kept where the app keeps one (lib/stored.ts, sessionStorage). */
import { TOKEN_KEY, USER_KEY } from '@/lib/stored'

export interface TestUser { id: string; role: 'doctor' | 'patient' | 'admin'; email?: string; full_name?: string }

/** Sign ``user`` in with ``token``; undone by `sessionStorage.clear()`. */
export function signInForTest(user: TestUser, token = 'tok'): void {
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify(token))
  sessionStorage.setItem(USER_KEY, JSON.stringify(user))
}
