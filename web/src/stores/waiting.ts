/**
 * The doctor's waiting room, live: who is waiting (from the visits' check-ins, kept fresh by
 * appointment.updated), an arrival chime and a browser notification (with permission) when
 * someone new arrives, and the count for the tab title.
 */
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { Appointment } from '@/api/client'
import { chime } from '@/calls/chime'
import { waitingRoom } from '@/features/visits/state'
import { useAppointmentsStore } from './appointments'
import { useSessionStore } from './session'

export type Permission = NotificationPermission | 'unsupported'

const notificationApi = (): typeof Notification | null => (typeof Notification === 'undefined' ? null : Notification)

export const useWaitingStore = defineStore('waiting', () => {
  const appointments = useAppointmentsStore()
  const session = useSessionStore()
  const now = ref(Date.now())
  setInterval(() => (now.value = Date.now()), 20_000)
  const permission = ref<Permission>(notificationApi()?.permission ?? 'unsupported')
  /** The newest arrival, for a non-modal banner (e.g. over a call). */
  const lastArrival = ref<Appointment | null>(null)

  const doctor = computed(() => session.user?.role === 'doctor')
  const waiting = computed(() => (doctor.value ? waitingRoom(appointments.items, now.value) : []))
  const count = computed(() => waiting.value.length)

  async function askPermission(): Promise<void> {
    const api = notificationApi()
    if (!api) return
    permission.value = await api.requestPermission()
  }

  function announce(a: Appointment): void {
    lastArrival.value = a
    chime()
    const api = notificationApi()
    if (api && api.permission === 'granted') {
      // The patient's name only (no reason, no health data) on a lock screen.
      const n = new api(`${a.patient.full_name} is in the waiting room`, { tag: `waiting-${a.id}`, body: 'Open Televisit to admit.' })
      n.onclick = () => {
        window.focus()
        n.close()
      }
    }
  }

  // Someone new in the list since the last look (the first load announces nobody).
  let known: Set<string> | null = null
  watch(() => [appointments.loading, waiting.value] as const, ([loading, list]) => {
    if (loading) return
    const ids = new Set(list.map((a) => a.id))
    if (known) for (const a of list) if (!known.has(a.id)) announce(a)
    if (!list.some((a) => a.id === lastArrival.value?.id)) lastArrival.value = null
    known = ids
  })
  watch(() => session.user?.id, () => {
    known = null
    lastArrival.value = null
  })

  return { waiting, count, permission, lastArrival, askPermission, dismissArrival: () => (lastArrival.value = null) }
})
