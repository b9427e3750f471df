// The app, imported by the entry (main.ts) once its early work is under way.
import { createPinia } from 'pinia'
import { createApp, watch } from 'vue'
import App from './App.vue'
import { dropEarlyCall } from './boot/earlyCall'
import { installPushIntents } from './push/intent'
import { renew } from './push/ringing'
import { entryFor, router } from './router'
import { useAppointmentsStore } from './stores/appointments'
import { useCallStore } from './stores/call'
import { useIncomingStore } from './stores/incoming'
import { useRealtimeStore } from './stores/realtime'
import { useSessionStore } from './stores/session'

const app = createApp(App)
// main.ts runs this module as soon as it has arrived: in theory before <div id="app"> is parsed.
const mount = () => {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => app.mount('#app'), { once: true })
  else app.mount('#app')
}
app.use(createPinia())
app.use(router)
// Opened straight into a call (a ringing notification's Answer, a reload during the call) and let
// in (router.ts: entryFor): the call store takes over the join and the camera that the entry
// started (boot/earlyCall.ts) before the app mounts; CallView.vue finds the call under way.
// Started by the mounted screen, they waited for the whole app and the screen's chunk, 260 ms
// into a cold load.
const first = router.resolve(location.pathname + location.search)
const intoCall = first.name === 'call' && typeof first.query.room === 'string' && entryFor(first) === true
if (intoCall) void useCallStore().answer(String(first.params.id), String(first.query.room))
dropEarlyCall() // not taken: the app went elsewhere after all
if (intoCall) {
  // The early socket's frames (room.joined, the doctor's offer) reach the stores that listen to
  // the socket, and the app mounts in a task of its own: the answer to the offer gets under way
  // (the peer connection works off the main thread) instead of waiting for the first render.
  useAppointmentsStore()
  useIncomingStore()
  useRealtimeStore().client.release()
  setTimeout(mount)
} else {
  mount()
  useRealtimeStore().client.release() // the early socket, if any, reaches its listeners now
}

// A tap on a ringing notification (public/sw.js): Decline goes out over the socket.
installPushIntents(router, () => ({
  decline(roomId: string) {
    const incoming = useIncomingStore()
    if (incoming.current?.roomId === roomId) incoming.decline()
    else useRealtimeStore().client.send({ type: 'call.decline', room_id: roomId })
  },
}))
// Signing out made the server forget this device: a sign-in gives it back if ringing was on here.
const session = useSessionStore()
watch(
  () => (session.signedIn && !session.scope && !session.mfaEnrollmentRequired ? session.user?.id : null),
  (userId) => {
    if (userId && import.meta.env.PROD) void renew(userId)
  },
  { immediate: true },
)

// The offline shell and ringing notifications: a small service worker that never touches /api
// (see public/sw.js).
// Registered once the page has loaded (this module may run after that: main.ts imports it).
if ('serviceWorker' in navigator && import.meta.env.PROD) {
  const register = () => void navigator.serviceWorker.register('/sw.js').catch(() => {})
  if (document.readyState === 'complete') register()
  else window.addEventListener('load', register)
}
