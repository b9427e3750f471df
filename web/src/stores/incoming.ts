/** Ringing: a call.incoming frame makes the phone ring until it is answered, declined or cancelled. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { ring } from '@/calls/ringtone'
import type { Caller } from '@/api/frames'
import { useRealtimeStore } from './realtime'

export interface IncomingCall {
  roomId: string
  appointmentId: string
  from: Caller
}

export const useIncomingStore = defineStore('incoming', () => {
  const realtime = useRealtimeStore()
  const current = ref<IncomingCall | null>(null)
  /** Shown after the ringing stopped without an answer here (cancelled, answered elsewhere). */
  const notice = ref<string | null>(null)
  /** Admitted from the waiting room: the call screen opens without Accept (IncomingCall.vue routes). */
  const admitted = ref<IncomingCall | null>(null)
  let stopRing: (() => void) | null = null

  function stop(message: string | null): void {
    stopRing?.()
    stopRing = null
    current.value = null
    notice.value = message
  }

  function decline(): void {
    const c = current.value
    if (!c) return
    realtime.client.send({ type: 'call.decline', room_id: c.roomId })
    stop(null)
  }

  /** The caller screen takes over; ringing stops here. */
  function accept(): IncomingCall | null {
    const c = current.value
    stop(null)
    return c
  }

  const matches = (frame: { room_id: string }) => current.value !== null && frame.room_id === current.value.roomId

  realtime.client.on('call.incoming', (frame) => {
    if (frame.auto_join) {
      stop(null)
      admitted.value = { roomId: frame.room_id, appointmentId: frame.appointment_id, from: frame.from }
      return
    }
    stopRing?.()
    current.value = {
      roomId: frame.room_id,
      appointmentId: frame.appointment_id,
      from: frame.from,
    }
    notice.value = null
    stopRing = ring()
  })
  realtime.client.on('call.cancelled', (frame) => {
    if (matches(frame)) stop(`Missed call from ${current.value!.from.full_name}.`)
  })
  realtime.client.on('call.answered', (frame) => {
    if (matches(frame)) stop('You answered on another device.')
  })
  realtime.client.on('room.ended', (frame) => {
    if (matches(frame)) stop(`Missed call from ${current.value!.from.full_name}.`)
  })

  return { current, notice, admitted, decline, accept, stop }
})
