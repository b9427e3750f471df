/**
 * Who is signed in. The access token lives in memory and in sessionStorage, never localStorage:
 * sessionStorage is scoped to the tab and dies with it, so a reload mid-visit keeps the visit
 * going while a token never outlives the tab or leaks to other tabs (see docs/web.md).
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, call, configureAuth, type User } from '@/api/client'

const TOKEN_KEY = 'televisit.token'
const USER_KEY = 'televisit.user'

function readStored<T>(key: string): T | null {
  try {
    const raw = sessionStorage.getItem(key)
    return raw ? (JSON.parse(raw) as T) : null
  } catch {
    return null
  }
}

export const useSessionStore = defineStore('session', () => {
  const token = ref<string | null>(readStored<string>(TOKEN_KEY))
  const user = ref<User | null>(readStored<User>(USER_KEY))
  /** Why the user was signed out without asking (expired session), shown on the sign-in page. */
  const notice = ref<string | null>(null)
  const signedIn = computed(() => token.value !== null && user.value !== null)

  function remember(newToken: string, newUser: User): void {
    token.value = newToken
    user.value = newUser
    sessionStorage.setItem(TOKEN_KEY, JSON.stringify(newToken))
    sessionStorage.setItem(USER_KEY, JSON.stringify(newUser))
  }

  function forget(reason: string | null = null): void {
    token.value = null
    user.value = null
    notice.value = reason
    sessionStorage.removeItem(TOKEN_KEY)
    sessionStorage.removeItem(USER_KEY)
  }

  async function signIn(email: string, password: string): Promise<void> {
    const body = await call(api.POST('/api/v1/auth/login', { body: { email, password } }))
    notice.value = null
    remember(body.access_token, body.user)
  }

  async function register(email: string, password: string, fullName: string): Promise<void> {
    // The browser's zone: the times in this person's emails are shown in it (changeable: PATCH /me).
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone
    const timeZone = zone && zone !== 'Etc/Unknown' ? zone : undefined
    await call(api.POST('/api/v1/auth/register', { body: { email, password, full_name: fullName, time_zone: timeZone } }))
    await signIn(email, password)
  }

  async function signOut(): Promise<void> {
    try {
      if (token.value) await call(api.POST('/api/v1/auth/logout'))
    } catch {
      /* the token dies server-side anyway when it expires; forget it here regardless */
    }
    forget()
  }

  configureAuth(
    () => token.value,
    () => {
      if (token.value) forget('Your session has ended. Please sign in again.')
    },
  )

  return { token, user, notice, signedIn, signIn, register, signOut, forget }
})
