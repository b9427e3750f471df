/**
 * The signed-in person's visits, kept fresh by appointment.created and appointment.updated frames
 * (with a notice when the other person booked, moved or cancelled one), their unread counts kept
 * live by chat.message and chat.read, and the visit's own calls: check-in, leaving the waiting
 * room, the next free slot, history and the event log.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, call, errorMessage, type Appointment, type AppointmentEvent, type Checks, type Patient } from '@/api/client'
import { formatWhen } from '@/lib/time'
import { useNoticesStore } from './notices'
import { useRealtimeStore } from './realtime'
import { useSessionStore } from './session'

export const useAppointmentsStore = defineStore('appointments', () => {
  const realtime = useRealtimeStore()
  const session = useSessionStore()
  const notices = useNoticesStore()
  const items = ref<Appointment[]>([])
  const loading = ref(false)
  const error = ref<string | null>(null)

  const sorted = computed(() =>
    [...items.value].sort((a, b) => a.starts_at.localeCompare(b.starts_at)),
  )
  /** Visits still ahead or under way. A completed visit is done, even inside its slot. */
  function isUpcoming(a: Appointment, now = Date.now()): boolean {
    const ends = new Date(a.starts_at).getTime() + a.duration_minutes * 60_000
    return (a.status === 'scheduled' || a.status === 'in_progress') && ends > now
  }
  const upcoming = computed(() => sorted.value.filter((a) => isUpcoming(a)))
  const past = computed(() => sorted.value.filter((a) => !isUpcoming(a)).reverse())

  const byId = (id: string) => items.value.find((x) => x.id === id)

  /**
   * When each visit was last written here (a response of ours, or a live frame), counted in writes:
   * a list that was asked for before that write must not put the older copy back (a patient's
   * check-in vanished when the visits list, asked for at sign-in, arrived after it).
   */
  let writes = 0
  const writtenAt = new Map<string, number>()

  function upsert(a: Appointment): void {
    writtenAt.set(a.id, ++writes)
    const i = items.value.findIndex((x) => x.id === a.id)
    if (i >= 0) items.value.splice(i, 1, a)
    else items.value.push(a)
  }

  const otherOf = (a: Appointment) => (session.user?.role === 'doctor' ? a.patient : a.doctor)

  /** A frame about a visit: keep it, and tell the person what the other one changed. */
  function live(a: Appointment, created: boolean): void {
    const before = byId(a.id)
    upsert(a)
    const other = otherOf(a).full_name
    if (created && !before) {
      if (session.user?.role === 'patient') notices.add(`New visit booked with ${other}: ${formatWhen(a.starts_at)}.`)
      return
    }
    if (!before) return
    if (a.status === 'cancelled' && before.status !== 'cancelled') {
      notices.add(`${cancelledByMe(a) ? 'You cancelled' : `${other} cancelled`} the visit of ${formatWhen(a.starts_at)}.`)
    } else if (before.starts_at !== a.starts_at || before.duration_minutes !== a.duration_minutes) {
      notices.add(`Your visit with ${other} is now ${formatWhen(a.starts_at)} (${a.duration_minutes} min).`)
    }
  }

  /** Cancelled on this device just now (the frame follows the response). */
  const cancelledHere = new Set<string>()
  const cancelledByMe = (a: Appointment) => cancelledHere.has(a.id)

  async function refresh(): Promise<void> {
    loading.value = true
    const askedAt = writes
    try {
      const from = new Date(Date.now() - 7 * 24 * 3600 * 1000).toISOString()
      const all: Appointment[] = []
      let cursor: string | undefined
      do {
        const page = await call(api.GET('/api/v1/appointments', { params: { query: { from, cursor, limit: 100 } } }))
        all.push(...page.items)
        cursor = page.next_cursor ?? undefined
      } while (cursor)
      // Visits written here since the list was asked for keep the newer copy (and a visit booked
      // meanwhile stays even if the list missed it).
      const newer = items.value.filter((a) => (writtenAt.get(a.id) ?? 0) > askedAt)
      const kept = new Map(newer.map((a) => [a.id, a]))
      items.value = [...all.map((a) => kept.get(a.id) ?? a), ...newer.filter((a) => !all.some((b) => b.id === a.id))]
      error.value = null
    } catch (err) {
      error.value = errorMessage(err)
    } finally {
      loading.value = false
    }
  }

  /** Book with a patient found by search (`patientId`), or by name and email (`newPatient`). */
  async function book(input: ({ patientId: string } | { newPatient: { full_name: string; email: string } })
    & { startsAt: Date; minutes: number; reason: string }): Promise<Appointment> {
    const created = await call(api.POST('/api/v1/appointments', {
      body: {
        ...('patientId' in input ? { patient_id: input.patientId } : { patient: input.newPatient }),
        starts_at: input.startsAt.toISOString(),
        duration_minutes: input.minutes,
        reason: input.reason.trim() || null,
      },
    }))
    upsert(created)
    return created
  }

  async function cancel(id: string, reason: string | null): Promise<void> {
    cancelledHere.add(id)
    const updated = await call(api.POST('/api/v1/appointments/{appointment_id}/cancel', {
      params: { path: { appointment_id: id } }, body: { reason },
    }))
    upsert(updated)
  }

  async function searchPatients(query: string): Promise<Patient[]> {
    const page = await call(api.GET('/api/v1/patients', { params: { query: { query, limit: 10 } } }))
    return page.items
  }

  /** The first start on a 5-minute grid that collides with none of the doctor's visits. */
  async function nextFree(minutes: number, after?: Date): Promise<Date> {
    const free = await call(api.GET('/api/v1/appointments/slots/next-free', {
      params: { query: { duration_minutes: minutes, ...(after ? { after: after.toISOString() } : {}) } },
    }))
    return new Date(free.starts_at)
  }

  /** The patient arrives: the pre-call results go with her check-in; she is then in the waiting room. */
  async function checkIn(id: string, checks: Checks): Promise<Appointment> {
    const updated = await call(api.POST('/api/v1/appointments/{appointment_id}/check-in', {
      params: { path: { appointment_id: id } }, body: { checks },
    }))
    upsert(updated)
    return updated
  }

  async function leaveWaitingRoom(id: string): Promise<void> {
    await call(api.DELETE('/api/v1/appointments/{appointment_id}/check-in', { params: { path: { appointment_id: id } } }))
  }

  /** Past visits with one person (completed, missed, cancelled), newest first. */
  async function history(personId: string): Promise<Appointment[]> {
    const all: Appointment[] = []
    let cursor: string | undefined
    do {
      const page = await call(api.GET('/api/v1/appointments', {
        params: { query: { status: 'completed,missed,cancelled', with: personId, cursor, limit: 100 } },
      }))
      all.push(...page.items)
      cursor = page.next_cursor ?? undefined
    } while (cursor)
    return all.sort((a, b) => b.starts_at.localeCompare(a.starts_at))
  }

  async function events(id: string): Promise<AppointmentEvent[]> {
    const all: AppointmentEvent[] = []
    let cursor: string | undefined
    do {
      const page = await call(api.GET('/api/v1/appointments/{appointment_id}/events', {
        params: { path: { appointment_id: id }, query: { cursor, limit: 100 } },
      }))
      all.push(...page.items)
      cursor = page.next_cursor ?? undefined
    } while (cursor)
    return all
  }

  /** Read up to `seq`: the count clears here now, on the person's other devices by chat.read. */
  const readSent = new Map<string, number>()
  function markRead(id: string, seq: number): void {
    const a = byId(id)
    if (a && a.unread_count) upsert({ ...a, unread_count: 0 })
    if (seq <= (readSent.get(id) ?? 0)) return
    readSent.set(id, seq)
    void call(api.POST('/api/v1/appointments/{appointment_id}/messages/read', {
      params: { path: { appointment_id: id } }, body: { seq },
    })).catch(() => readSent.delete(id))
  }

  /** Which conversations are on screen now (their messages are read as they come). */
  const reading = new Set<string>()
  function setReading(id: string, on: boolean): void {
    if (on) reading.add(id)
    else reading.delete(id)
  }

  realtime.client.on('appointment.updated', (frame) => live(frame.appointment, false))
  realtime.client.on('appointment.created', (frame) => live(frame.appointment, true))
  realtime.client.on('chat.message', (frame) => {
    const m = frame.message
    const a = m && byId(m.appointment_id)
    if (!a || m.sender_id === session.user?.id || reading.has(a.id)) return
    upsert({ ...a, unread_count: (a.unread_count ?? 0) + 1, last_message_at: m.created_at })
  })
  realtime.client.on('chat.read', (frame) => {
    const a = byId(frame.appointment_id)
    if (a && frame.reader_id === session.user?.id) upsert({ ...a, unread_count: 0 })
  })
  realtime.client.onResume((reconnected) => {
    if (reconnected) void refresh()
  })

  return {
    items, loading, error, upcoming, past, refresh, book, cancel, searchPatients, upsert, byId, nextFree,
    checkIn, leaveWaitingRoom, history, events, markRead, setReading,
  }
})
