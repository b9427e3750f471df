/** Ringing: the server's key becomes the bytes the browser subscribes with, and the server gets
 * exactly `PushSubscription.toJSON()`; a decline intent goes out over the socket and leaves the URL. */
import { describe, expect, it } from 'vitest'
import { defineComponent, h } from 'vue'
import { createMemoryHistory, createRouter } from 'vue-router'
import { installPushIntents } from './intent'
import { base64UrlToBytes, subscriptionBody } from './ringing'

describe('ringing', () => {
  it('decodes a base64url VAPID key (no padding, - and _) to its 65 bytes', () => {
    const key = 'BHwp7fNOwU0YW7-rxduXZ3ewKLpQhDU_KnWgHqHw6Y2Yj_WUpPtW6SrtIQOzO-q2FvFXomcFCemPMRXzldl_qv4'
    const bytes = base64UrlToBytes(key)
    expect(bytes.length).toBe(65)
    expect(bytes[0]).toBe(4) // an uncompressed P-256 point
    expect(btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')).toBe(key)
  })

  it('sends the subscription as the browser describes it', () => {
    const json = { endpoint: 'https://fcm.googleapis.com/fcm/send/abc', expirationTime: null,
      keys: { p256dh: 'BPbp', auth: 'mJiW' } }
    expect(subscriptionBody(json)).toEqual(json)
  })
})

describe('push intents', () => {
  it('declines the call named in ?decline= and removes it from the address', async () => {
    const Page = defineComponent({ render: () => h('p', 'visits') })
    const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/visits', component: Page }] })
    const declined: string[] = []
    installPushIntents(router, () => ({ decline: (room) => declined.push(room) }))
    await router.push('/visits?decline=room-1')
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(declined).toEqual(['room-1'])
    expect(router.currentRoute.value.fullPath).toBe('/visits')
  })
})
