/**
 * The emailed links' tokens: taken from the fragment and out of the address bar before anything
 * else, posted in a body (never a URL), and a link that does not work explained.
 */
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'
import { useSessionStore } from '@/stores/session'
import JoinView from './JoinView.vue'
import { captureLinkToken, takeLinkToken } from './linkToken'

const TOKEN = 'Zk3_example-token-of-a-join-link-abcdefghij'
const USER = { id: 'p1', email: 'ines@example.org', full_name: 'Ines Duarte', role: 'patient', time_zone: 'UTC' }

function answer(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

function fakeLocation(path: string, hash: string): { loc: Location; hist: History; replaced: string[] } {
  const replaced: string[] = []
  const loc = { pathname: path, hash, search: '' } as Location
  const hist = { state: null, replaceState: (_s: unknown, _t: string, url: string) => replaced.push(url) } as unknown as History
  return { loc, hist, replaced }
}

beforeEach(() => {
  setActivePinia(createPinia())
  sessionStorage.clear()
})
afterEach(() => {
  vi.unstubAllGlobals()
  takeLinkToken('/join')
  takeLinkToken('/reset')
})

describe('link tokens', () => {
  it('are taken from the fragment and dropped from the address bar, once', () => {
    const { loc, hist, replaced } = fakeLocation('/join', `#${TOKEN}`)
    captureLinkToken(loc, hist)
    expect(replaced).toEqual(['/join'])
    expect(takeLinkToken('/join')).toBe(TOKEN)
    expect(takeLinkToken('/join')).toBeNull()
  })

  it('are left alone on other pages, and a bare page has none', () => {
    for (const [path, hash] of [['/visits', `#${TOKEN}`], ['/join', ''], ['/join', '#']]) {
      const { loc, hist, replaced } = fakeLocation(path, hash)
      captureLinkToken(loc, hist)
      expect(replaced).toEqual([])
    }
    expect(takeLinkToken('/join')).toBeNull()
  })
})

async function openJoin(reply: Response) {
  const fetch = vi.fn(async (_request: Request) => reply)
  vi.stubGlobal('fetch', fetch)
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/join', name: 'join', component: JoinView },
      { path: '/visits/:id/check', name: 'check', component: { template: '<p>check</p>' } },
      { path: '/sign-in', component: { template: '<p>sign in</p>' } },
      { path: '/forgot-password', component: { template: '<p>forgot</p>' } },
    ],
  })
  await router.push('/join')
  const wrapper = mount(JoinView, { global: { plugins: [router] } })
  await flushPromises()
  return { wrapper, router, fetch }
}

describe('JoinView', () => {
  it('posts the token in the body and opens the visit with a session for it alone', async () => {
    const { loc, hist } = fakeLocation('/join', `#${TOKEN}`)
    captureLinkToken(loc, hist)
    const { router, fetch } = await openJoin(answer(200, {
      access_token: 'visit-session', token_type: 'bearer', expires_in: 1800, user: USER,
      appointment_id: 'v1', password_set: false,
    }))
    const request = fetch.mock.calls[0][0]
    expect(request.url).toMatch(/\/api\/v1\/auth\/join$/)
    expect(request.url).not.toContain(TOKEN)
    expect(await request.json()).toEqual({ token: TOKEN })
    expect(router.currentRoute.value.fullPath).toBe('/visits/v1/check')
    const session = useSessionStore()
    expect(session.scope).toEqual({ appointmentId: 'v1', passwordSet: false })
    expect(session.token).toBe('visit-session')
  })

  it('says what to do when the visit moved, was cancelled, or the link expired', async () => {
    const cases: [Response, RegExp][] = [
      [answer(410, { error: { code: 'join_link_revoked', message: 'x', details: { reason: 'moved' } } }), /newest email/],
      [answer(410, { error: { code: 'join_link_revoked', message: 'x', details: { reason: 'cancelled' } } }), /was cancelled/],
      [answer(410, { error: { code: 'join_link_expired', message: 'x', details: null } }), /has expired/],
      [answer(404, { error: { code: 'join_link_invalid', message: 'x', details: null } }), /does not work/],
    ]
    for (const [reply, says] of cases) {
      const { loc, hist } = fakeLocation('/join', `#${TOKEN}`)
      captureLinkToken(loc, hist)
      const { wrapper } = await openJoin(reply)
      expect(wrapper.get('h1').text() + wrapper.get('[role=alert]').text()).toMatch(says)
      expect(wrapper.text()).toContain('Sign in with your password')
      expect(useSessionStore().signedIn).toBe(false)
      wrapper.unmount()
    }
  })

  it('without a token (a reload) asks to open the email again, and posts nothing', async () => {
    const { wrapper, fetch } = await openJoin(answer(500, {}))
    expect(fetch).not.toHaveBeenCalled()
    expect(wrapper.get('h1').text()).toBe('Open the link from your email')
  })
})
