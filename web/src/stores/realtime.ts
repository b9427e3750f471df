/** The one WebSocket of the signed-in user, shared by ringing, calls and chat. */
import { defineStore } from 'pinia'
import { ref, watch } from 'vue'
import { takeEarlySocket } from '@/boot/earlyCall'
import { SignalingClient, socketUrl, type ConnectionState } from '@/realtime/signaling'
import { useSessionStore } from './session'

export const useRealtimeStore = defineStore('realtime', () => {
  const session = useSessionStore()
  const getToken = () => session.token
  // A page opened straight into a call started its socket before the app loaded (boot/earlyCall.ts).
  const early = takeEarlySocket()
  early?.setTokenSource(getToken)
  const client = early ?? new SignalingClient({ url: socketUrl(), getToken })
  const state = ref<ConnectionState>(client.state)
  const fatal = ref<string | null>(client.fatal)
  client.onState((s) => {
    state.value = s
    fatal.value = client.fatal
  })
  client.on('session.ended', () => session.forget('Your session has ended. Please sign in again.'))

  window.addEventListener('online', () => client.nudge())

  watch(
    // A session limited to two-factor enrolment may not open the socket (the server refuses it
    // with 4401, which would read as signed out): connect once enrolment made it a full one.
    () => (session.mfaEnrollmentRequired ? null : session.token),
    (token) => {
      if (token) client.start()
      else client.stop()
    },
    { immediate: true },
  )

  return { state, fatal, client }
})
