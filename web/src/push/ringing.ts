/**
 * Ringing this device when the app is closed: the browser's Web Push subscription, made with the
 * server's VAPID key and given to the server (POST /api/v1/push/subscriptions). The service worker
 * (public/sw.js) shows the notifications. Turned on per person and device from the account page;
 * the server forgets it at sign-out, so the next sign-in on this device gives it again.
 */
import { api, call, type Schemas } from '@/api/client'

export type RingingState = 'unsupported' | 'unavailable' | 'blocked' | 'off' | 'on'

const flagKey = (userId: string) => `televisit.ringing.${userId}`

export function supported(): boolean {
  return typeof window !== 'undefined' && 'serviceWorker' in navigator && 'PushManager' in window
    && 'Notification' in window
}

/** base64url (the server's key) to the bytes `applicationServerKey` takes. */
export function base64UrlToBytes(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4)
  const raw = atob(base64)
  const bytes = new Uint8Array(new ArrayBuffer(raw.length))
  for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i)
  return bytes
}

/** What the server stores: exactly `PushSubscription.toJSON()`. */
export function subscriptionBody(sub: PushSubscriptionJSON): Schemas['PushSubscriptionCreate'] {
  return {
    endpoint: sub.endpoint ?? '',
    expirationTime: sub.expirationTime ?? null,
    keys: { p256dh: sub.keys?.p256dh ?? '', auth: sub.keys?.auth ?? '' },
  }
}

async function registration(): Promise<ServiceWorkerRegistration> {
  return (await navigator.serviceWorker.getRegistration('/')) ?? navigator.serviceWorker.register('/sw.js')
}

function sameKey(sub: PushSubscription, key: Uint8Array): boolean {
  const current = sub.options.applicationServerKey
  if (!current) return false
  const bytes = new Uint8Array(current)
  return bytes.length === key.length && bytes.every((b, i) => b === key[i])
}

export async function ringingState(userId: string): Promise<RingingState> {
  if (!supported()) return 'unsupported'
  if (Notification.permission === 'denied') return 'blocked'
  if (localStorage.getItem(flagKey(userId)) !== '1' || Notification.permission !== 'granted') return 'off'
  const sub = await (await registration()).pushManager.getSubscription()
  return sub ? 'on' : 'off'
}

/** Ask for permission (only from a tap), subscribe with the server's key, and tell the server. */
export async function turnOn(userId: string): Promise<RingingState> {
  if (!supported()) return 'unsupported'
  const permission = await Notification.requestPermission()
  if (permission !== 'granted') return permission === 'denied' ? 'blocked' : 'off'
  const { public_key: publicKey } = await call(api.GET('/api/v1/push/vapid-public-key'))
  if (!publicKey) return 'unavailable'
  const key = base64UrlToBytes(publicKey)
  const manager = (await registration()).pushManager
  let sub = await manager.getSubscription()
  if (sub && !sameKey(sub, key)) {
    await sub.unsubscribe() // made with another server key: its pushes would be refused
    sub = null
  }
  sub ??= await manager.subscribe({ userVisibleOnly: true, applicationServerKey: key })
  await call(api.POST('/api/v1/push/subscriptions', { body: subscriptionBody(sub.toJSON()) }))
  localStorage.setItem(flagKey(userId), '1')
  return 'on'
}

export async function turnOff(userId: string): Promise<RingingState> {
  localStorage.removeItem(flagKey(userId))
  if (!supported()) return 'unsupported'
  const sub = await (await registration()).pushManager.getSubscription()
  if (sub) {
    await call(api.DELETE('/api/v1/push/subscriptions', { body: { endpoint: sub.endpoint } }))
    await sub.unsubscribe()
  }
  return 'off'
}

/** After a sign-in on a device where this person turned ringing on: subscribe again, silently. */
export async function renew(userId: string): Promise<void> {
  if (!supported() || localStorage.getItem(flagKey(userId)) !== '1') return
  if (Notification.permission !== 'granted') return
  try {
    await turnOn(userId)
  } catch {
    // Offline or refused: the account page shows the state and offers to try again.
  }
}
