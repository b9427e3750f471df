// First: a link's token (`/join#…`, `/reset#…`) leaves the address bar before anything reads it.
import './features/join/capture'
import { createPinia } from 'pinia'
import { createApp, watch } from 'vue'
import App from './App.vue'
import { installPushIntents } from './push/intent'
import { renew } from './push/ringing'
import { entryFor, router } from './router'
import { useCallStore } from './stores/call'
import { useIncomingStore } from './stores/incoming'
import { useRealtimeStore } from './stores/realtime'
import { useSessionStore } from './stores/session'
import './styles.css'

const app = createApp(App)
app.use(createPinia())
app.use(router)
// Opened straight into a call (a ringing notification's Answer, a reload during the call) and let
// in (router.ts: entryFor): the join and the camera start now, before the app mounts and while the
// call screen's code loads; CallView.vue finds the call under way. Started by the mounted screen,
// they waited for the whole app and the screen's chunk, 260 ms into a cold load.
const first = router.resolve(location.pathname + location.search)
if (first.name === 'call' && typeof first.query.room === 'string' && entryFor(first) === true) {
  void useCallStore().answer(String(first.params.id), first.query.room)
}
app.mount('#app')

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
if ('serviceWorker' in navigator && import.meta.env.PROD) {
  window.addEventListener('load', () => {
    navigator.serviceWorker.register('/sw.js').catch(() => {})
  })
}
