/** The signed-in person's visits, kept fresh by appointment.updated frames. */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, call, errorMessage, type Appointment, type Patient } from '@/api/client'
import { useRealtimeStore } from './realtime'

export const useAppointmentsStore = defineStore('appointments', () => {
  const realtime = useRealtimeStore()
  const items = ref<Appointment[]>([])
  const loading = ref(false)
  const error = ref<string | null>(null)

  const sorted = computed(() =>
    [...items.value].sort((a, b) => a.starts_at.localeCompare(b.starts_at)),
  )
  /** Visits still ahead or under way: a completed call inside its slot can be called again. */
  function isUpcoming(a: Appointment, now = Date.now()): boolean {
    const ends = new Date(a.starts_at).getTime() + a.duration_minutes * 60_000
    return (a.status === 'scheduled' || a.status === 'in_progress' || a.status === 'completed') && ends > now
  }
  const upcoming = computed(() => sorted.value.filter((a) => isUpcoming(a)))
  const past = computed(() => sorted.value.filter((a) => !isUpcoming(a)).reverse())

  function upsert(a: Appointment): void {
    const i = items.value.findIndex((x) => x.id === a.id)
    if (i >= 0) items.value.splice(i, 1, a)
    else items.value.push(a)
  }

  async function refresh(): Promise<void> {
    loading.value = true
    try {
      const from = new Date(Date.now() - 7 * 24 * 3600 * 1000).toISOString()
      const all: Appointment[] = []
      let cursor: string | undefined
      do {
        const page = await call(api.GET('/api/v1/appointments', { params: { query: { from, cursor, limit: 100 } } }))
        all.push(...page.items)
        cursor = page.next_cursor ?? undefined
      } while (cursor)
      items.value = all
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
    const updated = await call(api.POST('/api/v1/appointments/{appointment_id}/cancel', {
      params: { path: { appointment_id: id } }, body: { reason },
    }))
    upsert(updated)
  }

  async function searchPatients(query: string): Promise<Patient[]> {
    const page = await call(api.GET('/api/v1/patients', { params: { query: { query, limit: 10 } } }))
    return page.items
  }

  realtime.client.on('appointment.updated', (frame) => upsert(frame.appointment))
  realtime.client.onResume((reconnected) => {
    if (reconnected) void refresh()
  })

  return { items, loading, error, upcoming, past, refresh, book, cancel, searchPatients, upsert }
})
