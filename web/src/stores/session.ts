/**
 * Who is signed in. The access token lives in memory and in sessionStorage, never localStorage:
 * sessionStorage is scoped to the tab and dies with it, so a reload mid-visit keeps the visit
 * going while a token never outlives the tab or leaks to other tabs (see docs/web.md).
 *
 * The device token is different: it is not a credential (it opens nothing by itself), it only tells
 * the server that this browser signed in to the account before, so strangers' failed attempts never
 * throttle it. It lives in localStorage, for every tab and across restarts.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { ApiError, api, call, configureAuth, type User } from '@/api/client'
import { ENROL_KEY, readStored, SCOPE_KEY, TOKEN_KEY, USER_KEY } from '@/lib/stored'
import type { Schemas } from '@/api/client'

const DEVICE_KEY = 'televisit.device'
/** The longest server-asked wait (an account under attack) the sign-in waits out by itself. */
const AUTO_RETRY_SECONDS = 10

type TokenReply = Schemas['TokenPublic']
type JoinReply = Schemas['JoinPublic']

/** A session opened from a visit's emailed link: that visit only, until a password sign-in. */
export interface LinkScope {
  appointmentId: string
  passwordSet: boolean
}

function deviceToken(): string | null {
  try {
    return localStorage.getItem(DEVICE_KEY)
  } catch {
    return null
  }
}

function keepDevice(token: string | undefined): void {
  try {
    if (token) localStorage.setItem(DEVICE_KEY, token)
  } catch {
    /* storage refused (private mode): the browser is simply not remembered */
  }
}

const wait = (seconds: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, seconds * 1000))

/** Run a sign-in step; when the server asks for a short wait (`sign_in_delayed`), wait and ask again. */
async function patiently<T>(step: () => Promise<T>, onWait: (seconds: number) => void): Promise<T> {
  for (let tries = 0; ; tries += 1) {
    try {
      return await step()
    } catch (err) {
      const delayed = err instanceof ApiError && err.code === 'sign_in_delayed'
      if (!delayed || tries >= 2 || !err.retryAfter || err.retryAfter > AUTO_RETRY_SECONDS) throw err
      onWait(err.retryAfter)
      await wait(err.retryAfter)
    }
  }
}

export const useSessionStore = defineStore('session', () => {
  const token = ref<string | null>(readStored<string>(TOKEN_KEY))
  const user = ref<User | null>(readStored<User>(USER_KEY))
  /** The clinic requires two-factor sign-in and it is not set up: only the account page works. */
  const mfaEnrollmentRequired = ref<boolean>(readStored<boolean>(ENROL_KEY) ?? false)
  /** Between the password and the code of a two-factor sign-in (kept in memory only). */
  const mfaToken = ref<string | null>(null)
  /** Seconds the server asked us to wait before trying again (an account under attack), or null. */
  const waiting = ref<number | null>(null)
  /** Why the user was signed out without asking (expired session), shown on the sign-in page. */
  const notice = ref<string | null>(null)
  /** Set when this tab's session came from a join link: it opens one visit and nothing else. */
  const scope = ref<LinkScope | null>(readStored<LinkScope>(SCOPE_KEY))
  const signedIn = computed(() => token.value !== null && user.value !== null)

  function remember(reply: TokenReply): void {
    token.value = reply.access_token
    user.value = reply.user
    mfaEnrollmentRequired.value = reply.mfa_enrollment_required ?? false
    mfaToken.value = null
    notice.value = null
    keepDevice(reply.device_token)
    sessionStorage.setItem(TOKEN_KEY, JSON.stringify(reply.access_token))
    sessionStorage.setItem(USER_KEY, JSON.stringify(reply.user))
    sessionStorage.setItem(ENROL_KEY, JSON.stringify(mfaEnrollmentRequired.value))
    scope.value = null
    sessionStorage.removeItem(SCOPE_KEY)
  }

  /** The session a join link opened: kept like any other, with the one visit it may open. */
  function rememberLink(reply: JoinReply): void {
    token.value = reply.access_token
    user.value = reply.user
    mfaEnrollmentRequired.value = false
    notice.value = null
    scope.value = { appointmentId: reply.appointment_id, passwordSet: reply.password_set }
    sessionStorage.setItem(TOKEN_KEY, JSON.stringify(reply.access_token))
    sessionStorage.setItem(USER_KEY, JSON.stringify(reply.user))
    sessionStorage.setItem(ENROL_KEY, 'false')
    sessionStorage.setItem(SCOPE_KEY, JSON.stringify(scope.value))
  }

  function forget(reason: string | null = null): void {
    token.value = null
    user.value = null
    mfaToken.value = null
    mfaEnrollmentRequired.value = false
    notice.value = reason
    scope.value = null
    sessionStorage.removeItem(TOKEN_KEY)
    sessionStorage.removeItem(USER_KEY)
    sessionStorage.removeItem(ENROL_KEY)
    sessionStorage.removeItem(SCOPE_KEY)
  }

  /**
   * Open a visit with its emailed link's token (posted in the body, never in a URL); returns the
   * visit's id. An email link opens a new tab, which has its own session (sessionStorage).
   */
  async function joinWithLink(linkToken: string): Promise<string> {
    const reply = await call(api.POST('/api/v1/auth/join', { body: { token: linkToken } }))
    rememberLink(reply)
    return reply.appointment_id
  }

  /** Ask for a password link by email; the answer is the same whether or not the address is known. */
  async function requestPasswordReset(email: string): Promise<string> {
    const reply = await call(api.POST('/api/v1/auth/password-reset', { body: { email } }))
    return reply.message
  }

  /** Email myself a link to choose a password (a session from a join link may ask). */
  async function requestPasswordSetup(): Promise<string> {
    const reply = await call(api.POST('/api/v1/auth/password-setup'))
    return reply.message
  }

  /** Choose the password with an emailed link's token. Every session of the account ends, this one too. */
  async function confirmPasswordReset(linkToken: string, password: string): Promise<void> {
    await call(api.POST('/api/v1/auth/password-reset/confirm', { body: { token: linkToken, password } }))
    forget('Your new password is set. Sign in with it.')
  }

  /** The password step. Resolves to 'mfa' when a code is needed next (see `completeMfa`). */
  async function signIn(email: string, password: string): Promise<'done' | 'mfa'> {
    const device = deviceToken() ?? undefined
    try {
      const body = await patiently(
        () => call(api.POST('/api/v1/auth/login', { body: { email, password, device_token: device } })),
        (seconds) => { waiting.value = seconds },
      )
      if (body.mfa_required) {
        mfaToken.value = body.mfa_token
        return 'mfa'
      }
      remember(body)
      return 'done'
    } finally {
      waiting.value = null
    }
  }

  /** The second step: a code from the authenticator app, or a recovery code. */
  async function completeMfa(passcode: string): Promise<void> {
    if (!mfaToken.value) throw new ApiError(401, 'invalid_mfa_token', 'Sign in again.')
    const body = { mfa_token: mfaToken.value, passcode, device_token: deviceToken() ?? undefined }
    try {
      remember(await patiently(
        () => call(api.POST('/api/v1/auth/login/mfa', { body })),
        (seconds) => { waiting.value = seconds },
      ))
    } catch (err) {
      if (err instanceof ApiError && err.code === 'invalid_mfa_token') mfaToken.value = null
      throw err
    } finally {
      waiting.value = null
    }
  }

  function cancelMfa(): void {
    mfaToken.value = null
  }

  /** Two-factor sign-in was just turned on: this session is a full one now. */
  function enrolled(): void {
    mfaEnrollmentRequired.value = false
    sessionStorage.setItem(ENROL_KEY, 'false')
  }

  /**
   * Self-registration answers the same whether or not the address was new, so success is known only
   * by signing in with the same credentials right after (the caller does).
   */
  async function register(email: string, password: string, fullName: string): Promise<void> {
    // The browser's zone: the times in this person's emails are shown in it (changeable: PATCH /me).
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone
    const timeZone = zone && zone !== 'Etc/Unknown' ? zone : undefined
    await call(api.POST('/api/v1/auth/register', { body: { email, password, full_name: fullName, time_zone: timeZone } }))
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

  return {
    token, user, notice, signedIn, mfaToken, mfaEnrollmentRequired, waiting, scope,
    signIn, completeMfa, cancelMfa, enrolled, register, signOut, forget,
    joinWithLink, requestPasswordReset, requestPasswordSetup, confirmPasswordReset,
  }
})
