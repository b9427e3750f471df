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
})
