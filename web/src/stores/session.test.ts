import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError } from '@/api/client'
import { useSessionStore } from './session'

const USER = { id: 'u1', email: 'pat@example.org', full_name: 'Pat Ient', role: 'patient' }

/** The server's answers, as the contract gives them. */
function answer(status: number, body: unknown = null): Response {
  return new Response(body === null ? null : JSON.stringify(body), {
    status, headers: { 'content-type': 'application/json' },
  })
}

beforeEach(() => {
  setActivePinia(createPinia())
  sessionStorage.clear()
  localStorage.clear()
})
afterEach(() => vi.unstubAllGlobals())

describe('session store', () => {
  it('keeps the token in memory and sessionStorage, never localStorage', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => answer(200, { access_token: 'secret-token', token_type: 'bearer', expires_in: 1800, user: USER })))
    const session = useSessionStore()
    await session.signIn('pat@example.org', 'violet-harbour-lantern-42')
    expect(session.signedIn).toBe(true)
    expect(session.token).toBe('secret-token')
    expect(sessionStorage.getItem('televisit.token')).toContain('secret-token')
    expect(JSON.stringify({ ...localStorage })).not.toContain('secret-token')
  })

  it('a reload of the tab finds the session again', () => {
    sessionStorage.setItem('televisit.token', JSON.stringify('tok'))
    sessionStorage.setItem('televisit.user', JSON.stringify(USER))
    const session = useSessionStore()
    expect(session.signedIn).toBe(true)
    expect(session.user?.full_name).toBe('Pat Ient')
  })

  it('a wrong password is an ApiError 401 and nothing is stored', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => answer(401, { error: { code: 'invalid_credentials', message: 'Wrong email or password.', details: null } })))
    const session = useSessionStore()
    await expect(session.signIn('pat@example.org', 'nope')).rejects.toMatchObject({ status: 401, code: 'invalid_credentials' })
    expect(session.signedIn).toBe(false)
    expect(sessionStorage.length).toBe(0)
  })

  it('a network failure becomes a message about the connection', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => { throw new TypeError('Failed to fetch') }))
    const session = useSessionStore()
    const err = await session.signIn('pat@example.org', 'x').catch((e) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err.message).toMatch(/Cannot reach Televisit/)
  })

  it('a 401 on any other call signs out with a reason; sign-out forgets the token', async () => {
    sessionStorage.setItem('televisit.token', JSON.stringify('tok'))
    sessionStorage.setItem('televisit.user', JSON.stringify(USER))
    const fetch = vi.fn(async (request: Request) => {
      expect(request.headers.get('Authorization')).toBe('Bearer tok')
      return answer(401, { error: { code: 'not_authenticated', message: 'Sign in.', details: null } })
    })
    vi.stubGlobal('fetch', fetch)
    const session = useSessionStore()
    const { api, call } = await import('@/api/client')
    await expect(call(api.GET('/api/v1/me'))).rejects.toBeInstanceOf(ApiError)
    expect(session.signedIn).toBe(false)
    expect(session.notice).toMatch(/session has ended/)
    expect(sessionStorage.getItem('televisit.token')).toBeNull()
  })

  it('a two-factor sign-in takes a code, and the device token is kept for the next sign-in', async () => {
    const sent: Record<string, unknown>[] = []
    vi.stubGlobal('fetch', vi.fn(async (request: Request) => {
      sent.push(await request.json())
      if (request.url.endsWith('/auth/login')) return answer(200, { mfa_required: true, mfa_token: 'challenge', expires_in: 300 })
      return answer(200, { access_token: 'tok', token_type: 'bearer', expires_in: 1800, user: USER, mfa_required: false, mfa_enrollment_required: false, device_token: 'dev-1' })
    }))
    const session = useSessionStore()
    expect(await session.signIn('pat@example.org', 'pw')).toBe('mfa')
    expect(session.signedIn).toBe(false)
    await session.completeMfa('123456')
    expect(session.signedIn).toBe(true)
    expect(sent[1]).toEqual({ mfa_token: 'challenge', passcode: '123456' })
    expect(localStorage.getItem('televisit.device')).toBe('dev-1')
    expect(JSON.stringify({ ...sessionStorage })).not.toContain('challenge')
    await session.signIn('pat@example.org', 'pw')
    expect(sent[2]).toMatchObject({ device_token: 'dev-1' })
  })

  it('waits out a short sign_in_delayed and tries again by itself', async () => {
    vi.useFakeTimers()
    let calls = 0
    vi.stubGlobal('fetch', vi.fn(async () => {
      calls += 1
      if (calls === 1) {
        return new Response(JSON.stringify({ error: { code: 'sign_in_delayed', message: 'Wait.', details: { retry_after: 3 } } }),
          { status: 429, headers: { 'content-type': 'application/json', 'Retry-After': '3' } })
      }
      return answer(200, { access_token: 'tok', token_type: 'bearer', expires_in: 1800, user: USER, mfa_required: false, mfa_enrollment_required: false, device_token: 'd' })
    }))
    const session = useSessionStore()
    const done = session.signIn('pat@example.org', 'pw')
    await vi.waitFor(() => expect(session.waiting).toBe(3))
    await vi.advanceTimersByTimeAsync(3000)
    expect(await done).toBe('done')
    expect(calls).toBe(2)
    expect(session.waiting).toBeNull()
    vi.useRealTimers()
  })
})
