/**
 * A visit's live state as people read it, and the doctor's day as an agenda. Pure functions of the
 * appointment (with its check-in and call) and the time, so the list, the waiting room and the tab
 * title agree and are tested without a browser.
 */
import type { Appointment, AppointmentEvent } from '@/api/client'
import { CALL_EARLY_MINUTES } from '@/lib/time'

export type Role = 'doctor' | 'patient'
export type VisitState = 'later' | 'not-arrived' | 'left' | 'waiting' | 'in-call' | 'done' | 'missed' | 'cancelled'

const MINUTE = 60_000

export const endsAt = (a: Appointment): number => new Date(a.starts_at).getTime() + a.duration_minutes * MINUTE

/** Whether the waiting room and the call are open now (15 minutes before the start until the end). */
export function joinWindowOpen(a: Appointment, now = Date.now()): boolean {
  return now >= new Date(a.starts_at).getTime() - CALL_EARLY_MINUTES * MINUTE && now < endsAt(a)
}

export function visitState(a: Appointment, now = Date.now()): VisitState {
  if (a.status === 'cancelled') return 'cancelled'
  if (a.status === 'missed') return 'missed'
  if (a.status === 'completed') return 'done'
  // A visit left "in progress" whose room is gone reads as what it became (the server's rules);
  // in the window it is a live call.
  if (a.status === 'in_progress') return now < endsAt(a) || (a.call && !a.call.ended_at) ? 'in-call' : 'done'
  if (now >= endsAt(a)) return 'missed'
  if (a.check_in?.present) return 'waiting'
  if (!joinWindowOpen(a, now)) return 'later'
  return a.check_in ? 'left' : 'not-arrived'
}

/** Whole minutes a present patient has been waiting. */
export function waitingMinutes(a: Appointment, now = Date.now()): number {
  return a.check_in ? Math.max(0, Math.floor((now - new Date(a.check_in.at).getTime()) / MINUTE)) : 0
}

/** The state's words for the one reading them: a doctor about the patient, a patient about herself. */
export function stateLabel(a: Appointment, role: Role, now = Date.now()): string {
  const s = visitState(a, now)
  const mins = waitingMinutes(a, now)
  const waited = mins < 1 ? 'just now' : `${mins} min`
  if (role === 'doctor') {
    return {
      later: 'Scheduled', 'not-arrived': 'Not arrived', left: 'Left the waiting room',
      waiting: `Waiting ${mins < 1 ? 'since just now' : waited}`, 'in-call': 'In call', done: 'Done',
      missed: 'Missed', cancelled: 'Cancelled',
    }[s]
  }
  return {
    later: 'Booked', 'not-arrived': 'You can check in now', left: 'You left the waiting room',
    waiting: 'You are in the waiting room', 'in-call': 'Your visit is on', done: 'Visit done',
    missed: 'Missed', cancelled: 'Cancelled',
  }[s]
}

export interface Day {
  /** yyyy-mm-dd in the reader's time zone. */
  key: string
  title: string
  today: boolean
  visits: Appointment[]
}

function dayKey(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
}

const dayTitle = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long' })

/**
 * The agenda: today first (even when empty nothing else comes before it), then the days ahead in
 * order; each day's visits by start time. Days before today are history, not agenda.
 */
export function agenda(items: readonly Appointment[], now = Date.now()): Day[] {
  const today = dayKey(new Date(now))
  const tomorrow = dayKey(new Date(now + 24 * 3600_000))
  const days = new Map<string, Day>()
  for (const a of [...items].sort((x, y) => x.starts_at.localeCompare(y.starts_at))) {
    const start = new Date(a.starts_at)
    const key = dayKey(start)
    if (key < today) continue
    let day = days.get(key)
    if (!day) {
      const title = key === today ? 'Today' : key === tomorrow ? 'Tomorrow' : dayTitle.format(start)
      day = { key, title, today: key === today, visits: [] }
      days.set(key, day)
    }
    day.visits.push(a)
  }
  return [...days.values()].sort((x, y) => x.key.localeCompare(y.key))
}

/** Patients in the waiting room now, longest waiting first. */
export function waitingRoom(items: readonly Appointment[], now = Date.now()): Appointment[] {
  return items
    .filter((a) => visitState(a, now) === 'waiting')
    .sort((x, y) => (x.check_in!.at).localeCompare(y.check_in!.at))
}

/** Messages may be sent until messaging_until (the server says 409 after it); reading stays open. */
export function messagingOpen(a: Appointment, now = Date.now()): boolean {
  return !a.messaging_until || now < new Date(a.messaging_until).getTime()
}

/** "12 min 5 s" for a call's actual length. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null) return '—'
  const m = Math.floor(seconds / 60)
  const s = seconds % 60
  if (m >= 60) return `${Math.floor(m / 60)} h ${m % 60} min`
  return m ? `${m} min ${s} s` : `${s} s`
}

const END_REASONS: Record<string, string> = {
  ended: 'hung up', declined: 'declined', 'unused-timeout': 'nobody answered', 'empty-timeout': 'everyone had left',
  'max-duration': 'reached the longest allowed call',
}

/** One line of a visit's event log, e.g. "Patty Lindqvist checked in (camera works…)". */
export function eventText(e: AppointmentEvent, me?: string): string {
  const who = e.actor ? (e.actor.id === me ? 'You' : e.actor.full_name) : 'Televisit'
  switch (e.kind) {
    case 'booked': return `${who} booked the visit`
    case 'changed': return `${who} moved the visit`
    case 'cancelled': return `${who} cancelled the visit`
    case 'checked_in': return e.data.reason === 'reconnected' ? `${who} came back to the waiting room` : `${who} checked in`
    case 'left_waiting_room':
      return e.data.reason === 'disconnected' ? `${who} lost the connection in the waiting room` : `${who} left the waiting room`
    case 'call_started': return `${who} started the call`
    case 'joined': return `${who} joined the call`
    case 'left': return `${who} left the call`
    case 'reconnected': return `${who} reconnected`
    case 'declined': return `${who} declined the call`
    case 'call_ended': {
      const reason = typeof e.data.reason === 'string' ? END_REASONS[e.data.reason] ?? e.data.reason : null
      return reason ? `The call ended (${reason})` : 'The call ended'
    }
    case 'quality': return qualityText(e.data, who)
    // A kind newer than this page: its name in words, with who did it.
    default: return `${who}: ${String(e.kind).replace(/_/g, ' ')}`
  }
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null)

/** "Call quality report from You: 12 min 34 s, through a relay server, round trip 83 ms, …" */
export function qualityText(data: Record<string, unknown>, who: string): string {
  const parts: string[] = []
  const duration = num(data.duration_seconds)
  if (duration !== null) parts.push(formatDuration(duration))
  if (data.path === 'relay') parts.push('through a relay server')
  else if (data.path === 'direct') parts.push('direct connection')
  const rtt = num(data.rtt_ms)
  if (rtt !== null) parts.push(`round trip ${rtt} ms`)
  const loss = num(data.loss_percent)
  if (loss !== null) parts.push(`${loss}% of data lost`)
  const kbps = num(data.bitrate_kbps)
  if (kbps !== null) parts.push(`${kbps} kbit/s received`)
  const freezes = num(data.freezes)
  if (freezes) parts.push(freezes === 1 ? '1 picture freeze' : `${freezes} picture freezes`)
  const reconnects = num(data.reconnects)
  if (reconnects) parts.push(reconnects === 1 ? 'reconnected once' : `reconnected ${reconnects} times`)
  const from = `Call quality report from ${who}`
  return parts.length ? `${from}: ${parts.join(', ')}` : from
}
