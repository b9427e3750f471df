/**
 * What a tap on a ringing notification asks the app to do (public/sw.js): Answer opens the call
 * (a plain URL, handled by the call screen); Decline arrives as `?decline=<room>` when the app was
 * closed, or as a message from the service worker when it was open, and is sent over the socket.
 */
import type { Router } from 'vue-router'

export interface DeclineSender {
  decline(roomId: string): void
}

interface PushIntent {
  type: 'answer' | 'decline' | 'open'
  url: string
  room_id?: string
}

export function installPushIntents(router: Router, sender: () => DeclineSender): void {
  router.afterEach((to) => {
    const room = to.query.decline
    if (typeof room !== 'string' || !room) return
    sender().decline(room)
    const query = { ...to.query }
    delete query.decline
    void router.replace({ path: to.path, query })
  })
  if (!('serviceWorker' in navigator)) return
  navigator.serviceWorker.addEventListener('message', (event: MessageEvent) => {
    const data = event.data as { type?: string; intent?: PushIntent } | null
    if (data?.type !== 'televisit.push' || !data.intent) return
    const intent = data.intent
    if (intent.type === 'decline' && intent.room_id) sender().decline(intent.room_id)
    else if (intent.url.startsWith('/')) void router.push(intent.url)
  })
}
