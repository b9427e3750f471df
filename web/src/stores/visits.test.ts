import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Appointment } from '@/api/client'
import { recordFetch, type RecordedRequest } from '@/testing/recordedFetch'
import { latest, ScriptedSocket } from '@/testing/scriptedSocket'
import { signInForTest } from '@/testing/session'
import { useChatStore } from '@/features/chat/store'
import { useAppointmentsStore } from './appointments'
import { useIncomingStore } from './incoming'
import { useNoticesStore } from './notices'
import { useWaitingStore } from './waiting'

vi.mock('@/calls/chime', () => ({ chime: vi.fn() }))
vi.mock('@/calls/ringtone', () => ({ ring: vi.fn(() => () => {}) }))

const NOW = Date.now()
const iso = (t: number) => new Date(t).toISOString()
const checks = { camera: 'ok', microphone: 'failed', network: null } as const

function visit(over: Partial<Appointment> = {}): Appointment {
  return {
    id: 'a1', doctor: { id: 'doc', full_name: 'Dr. Grace Hopper' }, patient: { id: 'pat', full_name: 'Patty Lindqvist' },
    starts_at: iso(NOW + 5 * 60_000), duration_minutes: 30, reason: null, status: 'scheduled', created_at: iso(NOW),
    cancelled_at: null, cancel_reason: null, room_id: null, unread_count: 0, ...over,
  } as Appointment
}

function signIn(role: 'doctor' | 'patient'): void {
  const id = role === 'doctor' ? 'doc' : 'pat'
  signInForTest({ id, email: `${id}@x`, full_name: id, role })
  setActivePinia(createPinia())
}

let requests: RecordedRequest[] = []

beforeEach(() => {
  ScriptedSocket.all = []
  vi.stubGlobal('WebSocket', ScriptedSocket)
  requests = recordFetch()
})
afterEach(() => {
  vi.unstubAllGlobals()
  sessionStorage.clear()
})

function ready(socket: ScriptedSocket): void {
  socket.open()
  socket.frame({ type: 'ready', user_id: 'x' })
}

describe('visits, live', () => {
  it('a booking made by the doctor appears on the patient\'s page with a notice', () => {
    signIn('patient')
    const appointments = useAppointmentsStore()
    const notices = useNoticesStore()
    const socket = latest()
    ready(socket)
    socket.frame({ type: 'appointment.created', appointment: visit() })
    expect(appointments.items.map((a) => a.id)).toEqual(['a1'])
    expect(notices.items.map((n) => n.text)).toEqual([expect.stringContaining('New visit booked with Dr. Grace Hopper')])
  })

  it('the doctor is told when the patient cancels, and when a visit moves', () => {
    signIn('doctor')
    const appointments = useAppointmentsStore()
    const notices = useNoticesStore()
    const socket = latest()
    ready(socket)
    appointments.upsert(visit())
    socket.frame({ type: 'appointment.updated', appointment: visit({ starts_at: iso(NOW + 3600_000) }) })
    socket.frame({ type: 'appointment.updated', appointment: visit({ starts_at: iso(NOW + 3600_000), status: 'cancelled' }) })
    expect(notices.items.map((n) => n.text)).toEqual([
      expect.stringContaining('Your visit with Patty Lindqvist is now'),
      expect.stringContaining('Patty Lindqvist cancelled the visit'),
    ])
  })

  it('counts unread messages live and clears them when read here or on another device', async () => {
    signIn('patient')
    const appointments = useAppointmentsStore()
    const chat = useChatStore()
    const socket = latest()
    ready(socket)
    appointments.upsert(visit())
    const message = (seq: number, sender: string) => ({ type: 'chat.message', message: {
      id: `m${seq}`, seq, appointment_id: 'a1', sender_id: sender, client_msg_id: `c${seq}`, body: 'hi', created_at: iso(NOW) } })
    socket.frame(message(1, 'doc'))
    socket.frame(message(2, 'doc'))
    socket.frame(message(3, 'pat')) // her own, from her phone
    expect(appointments.byId('a1')!.unread_count).toBe(2)
    socket.frame({ type: 'chat.read', appointment_id: 'a1', reader_id: 'pat', seq: 3 })
    expect(appointments.byId('a1')!.unread_count).toBe(0)
    expect(chat.unread('a1')).toBe(0)

    // Reading here posts the marker once per new seq, never backwards.
    socket.frame(message(4, 'doc'))
    expect(appointments.byId('a1')!.unread_count).toBe(1)
    chat.markRead('a1')
    chat.markRead('a1')
    await vi.waitFor(() => expect(requests).toHaveLength(1))
    expect(appointments.byId('a1')!.unread_count).toBe(0)
    expect(requests[0]).toEqual({ method: 'POST', url: '/api/v1/appointments/a1/messages/read', body: { seq: 4 } })
    // An open conversation reads its messages as they come.
    appointments.setReading('a1', true)
    socket.frame(message(5, 'doc'))
    expect(appointments.byId('a1')!.unread_count).toBe(0)
  })

  it('announces a new arrival in the waiting room once, and counts who waits', async () => {
    const shown: string[] = []
    class FakeNotification {
      static permission = 'granted'
      static requestPermission = vi.fn(async () => 'granted')
      onclick: (() => void) | null = null
      constructor(title: string) { shown.push(title) }
      close(): void {}
    }
    vi.stubGlobal('Notification', FakeNotification)
    const { chime } = await import('@/calls/chime')
    signIn('doctor')
    const appointments = useAppointmentsStore()
    const waiting = useWaitingStore()
    const socket = latest()
    ready(socket)
    appointments.upsert(visit({ id: 'a2', patient: { id: 'p2', full_name: 'Ada Byron' } }))
    await Promise.resolve()
    const arrived = visit({ check_in: { at: iso(NOW), present: true, left_at: null, checks } })
    socket.frame({ type: 'appointment.updated', appointment: arrived })
    await vi.waitFor(() => expect(waiting.count).toBe(1))
    socket.frame({ type: 'appointment.updated', appointment: { ...arrived, check_in: { ...arrived.check_in!, checks: { ...checks, camera: 'failed' } } } })
    await Promise.resolve()
    expect(shown).toEqual(['Patty Lindqvist is in the waiting room'])
    expect(vi.mocked(chime)).toHaveBeenCalledTimes(1)
    expect(waiting.lastArrival?.id).toBe('a1')
    socket.frame({ type: 'appointment.updated', appointment: { ...arrived, check_in: { ...arrived.check_in!, present: false } } })
    await vi.waitFor(() => expect(waiting.count).toBe(0))
  })

  it('a call for a checked-in patient opens without ringing; any other call rings', () => {
    signIn('patient')
    const incoming = useIncomingStore()
    const socket = latest()
    ready(socket)
    const from = { id: 'doc', full_name: 'Dr. Grace Hopper', role: 'doctor' }
    socket.frame({ type: 'call.incoming', room_id: 'r1', appointment_id: 'a1', from, auto_join: true })
    expect(incoming.current).toBeNull()
    expect(incoming.admitted).toMatchObject({ roomId: 'r1', appointmentId: 'a1' })
    socket.frame({ type: 'call.incoming', room_id: 'r2', appointment_id: 'a1', from })
    expect(incoming.current).toMatchObject({ roomId: 'r2' })
  })
})

describe('the visits list and writes made meanwhile', () => {
  it('a list asked for before a check-in does not put the visit back as not checked in', async () => {
    signIn('patient')
    const store = useAppointmentsStore()
    const checkedIn = visit({ check_in: { at: iso(NOW), checks } } as Partial<Appointment>)
    let answerList: (r: Response) => void = () => {}
    vi.stubGlobal('fetch', vi.fn(async (request: Request) => {
      const path = new URL(request.url).pathname
      if (request.method === 'GET' && path === '/api/v1/appointments') {
        return new Promise<Response>((resolve) => (answerList = resolve)) // slow, as at sign-in on a busy server
      }
      if (path === '/api/v1/appointments/a1/check-in') return Response.json(checkedIn)
      return new Response(null, { status: 204 })
    }))
    const listing = store.refresh()
    await store.checkIn('a1', checks)
    expect(store.byId('a1')?.check_in).not.toBeNull()
    const booked = visit({ id: 'a2' })
    store.upsert(booked) // a live frame about a visit the list does not have yet
    answerList(Response.json({ items: [visit(), visit({ id: 'a3' })], next_cursor: null }))
    await listing
    expect(store.byId('a1')?.check_in).toEqual(checkedIn.check_in) // the newer copy stays
    expect(store.byId('a2')).toEqual(booked)
    expect(store.byId('a3')).toBeDefined()

    // A list asked for after the write is the newest word.
    vi.stubGlobal('fetch', vi.fn(async () => Response.json({ items: [visit()], next_cursor: null })))
    await store.refresh()
    expect(store.byId('a1')?.check_in ?? null).toBeNull()
    expect(store.byId('a2')).toBeUndefined()
  })
})
