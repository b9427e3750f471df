import { describe, expect, it } from 'vitest'
import type { Appointment } from '@/api/client'
import { agenda, eventText, formatDuration, messagingOpen, stateLabel, visitState, waitingMinutes, waitingRoom } from './state'

const NOW = new Date('2030-03-04T10:00:00').getTime()
const MIN = 60_000
const iso = (t: number) => new Date(t).toISOString()

function visit(over: Partial<Appointment> = {}): Appointment {
  return {
    id: 'a1', doctor: { id: 'd', full_name: 'Dr. Grace Hopper' }, patient: { id: 'p', full_name: 'Patty Lindqvist' },
    starts_at: iso(NOW + 5 * MIN), duration_minutes: 30, reason: null, status: 'scheduled', created_at: iso(NOW - 86_400_000),
    cancelled_at: null, cancel_reason: null, room_id: null, ...over,
  } as Appointment
}
const checks = { camera: 'ok', microphone: 'ok', network: { rtt_ms: 40, bitrate_kbps: null, turn: 'skipped' } } as const

describe('visit state', () => {
  it('reads each visit as the doctor and the patient would say it', () => {
    expect(visitState(visit({ starts_at: iso(NOW + 3 * 3600_000) }), NOW)).toBe('later')
    expect(visitState(visit(), NOW)).toBe('not-arrived')
    const waiting = visit({ check_in: { at: iso(NOW - 7 * MIN), present: true, left_at: null, checks } })
    expect(visitState(waiting, NOW)).toBe('waiting')
    expect(waitingMinutes(waiting, NOW)).toBe(7)
    expect(stateLabel(waiting, 'doctor', NOW)).toBe('Waiting 7 min')
    expect(stateLabel(waiting, 'patient', NOW)).toBe('You are in the waiting room')
    expect(visitState(visit({ check_in: { at: iso(NOW - 7 * MIN), present: false, left_at: iso(NOW - MIN), checks } }), NOW)).toBe('left')
    expect(visitState(visit({ status: 'in_progress' }), NOW)).toBe('in-call')
    expect(stateLabel(visit({ status: 'completed' }), 'doctor', NOW)).toBe('Done')
    expect(stateLabel(visit({ status: 'completed' }), 'patient', NOW)).toBe('Visit done')
    expect(visitState(visit({ status: 'cancelled' }), NOW)).toBe('cancelled')
    // Past its end without a call: missed, whatever the server has not written yet.
    expect(visitState(visit({ starts_at: iso(NOW - 60 * MIN) }), NOW)).toBe('missed')
    // A stale "in progress" whose call ended and whose slot is over is not a live call.
    const stale = visit({ status: 'in_progress', starts_at: iso(NOW - 60 * MIN),
      call: { room_id: 'r', started_at: iso(NOW - 60 * MIN), ended_at: iso(NOW - 50 * MIN), duration_seconds: 600 } })
    expect(visitState(stale, NOW)).toBe('done')
  })

  it('lays the day out as an agenda: today first, then the days ahead, earlier days left out', () => {
    const items = [
      visit({ id: 'tomorrow', starts_at: iso(NOW + 24 * 3600_000) }),
      visit({ id: 'late', starts_at: iso(NOW + 4 * 3600_000) }),
      visit({ id: 'yesterday', starts_at: iso(NOW - 24 * 3600_000) }),
      visit({ id: 'early', starts_at: iso(NOW - 2 * 3600_000), status: 'completed' }),
    ]
    const days = agenda(items, NOW)
    expect(days.map((d) => d.title)).toEqual(['Today', 'Tomorrow'])
    expect(days[0].visits.map((a) => a.id)).toEqual(['early', 'late'])
    expect(days[0].today).toBe(true)
  })

  it('lists the waiting room longest-waiting first, present patients only', () => {
    const at = (m: number, present = true) => ({ at: iso(NOW - m * MIN), present, left_at: null, checks })
    const list = waitingRoom([
      visit({ id: 'new', check_in: at(1) }), visit({ id: 'old', check_in: at(9) }),
      visit({ id: 'gone', check_in: at(20, false) }), visit({ id: 'none' }),
    ], NOW)
    expect(list.map((a) => a.id)).toEqual(['old', 'new'])
  })

  it('closes messaging after messaging_until, and words events and durations for people', () => {
    expect(messagingOpen(visit({ messaging_until: iso(NOW + MIN) }), NOW)).toBe(true)
    expect(messagingOpen(visit({ messaging_until: iso(NOW - MIN) }), NOW)).toBe(false)
    expect(formatDuration(754)).toBe('12 min 34 s')
    expect(formatDuration(null)).toBe('—')
    const actor = { id: 'p', full_name: 'Patty Lindqvist' }
    expect(eventText({ id: 'e', at: iso(NOW), kind: 'checked_in', actor, data: {} }, 'd')).toBe('Patty Lindqvist checked in')
    expect(eventText({ id: 'e', at: iso(NOW), kind: 'checked_in', actor, data: {} }, 'p')).toBe('You checked in')
    expect(eventText({ id: 'e', at: iso(NOW), kind: 'call_ended', actor: null, data: { reason: 'declined' } })).toBe('The call ended (declined)')
    const report = { duration_seconds: 754, path: 'relay', rtt_ms: 83, loss_percent: 1.5, bitrate_kbps: 1240, freezes: 2, reconnects: 1 }
    expect(eventText({ id: 'e', at: iso(NOW), kind: 'quality', actor, data: report }, 'p')).toBe(
      'Call quality report from You: 12 min 34 s, through a relay server, round trip 83 ms, 1.5% of data lost, '
      + '1240 kbit/s received, 2 picture freezes, reconnected once')
    expect(eventText({ id: 'e', at: iso(NOW), kind: 'quality', actor, data: { duration_seconds: 0, path: 'unknown',
      rtt_ms: null, loss_percent: null, bitrate_kbps: null, freezes: 0, reconnects: 0 } }, 'd'))
      .toBe('Call quality report from Patty Lindqvist: 0 s')
    // A kind newer than this page still reads as words.
    expect(eventText({ id: 'e', at: iso(NOW), kind: 'screen_shared' as never, actor, data: {} }, 'd'))
      .toBe('Patty Lindqvist: screen shared')
  })
})
