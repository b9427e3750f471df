import { describe, expect, it } from 'vitest'
import { nextTick } from 'vue'
import {
  applyVideoSending, audioOnlyNotice, initialFallback, MAX_HOLD_MS, nextFallback, RESTORE_AFTER_MS, useAudioOnly,
  WEAK_FOR_MS,
  type FallbackState, type LinkReading,
} from './audioOnly'
import type { Quality } from './negotiation'

/** Readings every two seconds, as calls/quality.ts takes them, from `fromMs`. */
function run(state: FallbackState, level: Quality, seconds: number, fromMs: number, kbps: number | null = null) {
  const seen: boolean[] = []
  for (let t = 0; t <= seconds * 1000; t += 2000) {
    const r: LinkReading = { level, availableOutgoingKbps: kbps, atMs: fromMs + t }
    state = nextFallback(state, r)
    seen.push(state.audioOnly)
  }
  return { state, seen }
}

describe('the automatic audio-only fallback', () => {
  it('pauses video once the link has been poor for six seconds, not before', () => {
    const { state, seen } = run(initialFallback(), 'poor', 6, 0)
    expect(seen).toEqual([false, false, false, true])
    expect(state.holdMs).toBe(RESTORE_AFTER_MS)
  })

  it('does not pause for a short dip: one good reading starts the count again', () => {
    let s = run(initialFallback(), 'poor', 4, 0).state
    s = nextFallback(s, { level: 'good', availableOutgoingKbps: null, atMs: 6000 })
    s = run(s, 'poor', 4, 8000).state
    expect(s.audioOnly).toBe(false)
  })

  it('counts a bandwidth estimate below Jitsi\'s smallest layer as weak even when the level looks fine', () => {
    expect(run(initialFallback(), 'excellent', WEAK_FOR_MS / 1000, 0, 150).state.audioOnly).toBe(true)
    expect(run(initialFallback(), 'excellent', 20, 0, 250).state.audioOnly).toBe(false)
  })

  it('ignores lost and unknown readings (nothing flows: reconnecting helps, pausing video does not)', () => {
    expect(run(initialFallback(), 'lost', 20, 0).state.audioOnly).toBe(false)
    expect(run(initialFallback(), 'unknown', 20, 0).state.audioOnly).toBe(false)
  })

  it('restores video after ten good seconds, and needs more than the weak threshold to call it good', () => {
    const paused = run(initialFallback(), 'poor', 6, 0).state
    expect(run(paused, 'good', 8, 10_000).state.audioOnly).toBe(true)
    expect(run(paused, 'good', 10, 10_000).state.audioOnly).toBe(false)
    // 250 kbit/s is not weak, but not enough to bring video back either (hysteresis).
    expect(run(paused, 'excellent', 30, 10_000, 250).state.audioOnly).toBe(true)
    expect(run(paused, 'excellent', 10, 10_000, 400).state.audioOnly).toBe(false)
  })

  it('waits twice as long after each relapse, up to a limit', () => {
    let s = run(initialFallback(), 'poor', 6, 0).state
    s = run(s, 'good', 10, 8_000).state
    expect(s.audioOnly).toBe(false)
    s = run(s, 'poor', 6, 20_000).state // a relapse 2 s after the restore
    expect(s.audioOnly).toBe(true)
    expect(s.holdMs).toBe(2 * RESTORE_AFTER_MS)
    expect(run(s, 'good', 10, 30_000).state.audioOnly).toBe(true)
    for (let i = 0; i < 6; i++) {
      s = run(s, 'good', s.holdMs / 1000, 100_000 * (i + 1)).state
      s = run(s, 'poor', 6, 100_000 * (i + 1) + s.holdMs + 2000).state
    }
    expect(s.holdMs).toBe(MAX_HOLD_MS)
  })

  it('starts afresh when the last restore was long ago', () => {
    let s = run(initialFallback(), 'poor', 6, 0).state
    s = run(s, 'good', 10, 8_000).state
    s = run(s, 'poor', 6, 200_000).state
    expect(s.holdMs).toBe(RESTORE_AFTER_MS)
  })
})

describe('what the screen says', () => {
  const off = { on: false, reason: null }
  it('names whose choice or whose connection it is, in plain words', () => {
    expect(audioOnlyNotice(off, off, 'Dr. Ada')).toBeNull()
    expect(audioOnlyNotice({ on: true, reason: 'manual' }, off, 'Dr. Ada')).toBe('You turned video off. Audio continues.')
    expect(audioOnlyNotice({ on: true, reason: 'network' }, off, 'Dr. Ada'))
      .toBe('Video is paused because your connection was weak. Audio continues.')
    expect(audioOnlyNotice(off, { on: true, reason: 'manual' }, 'Dr. Ada')).toBe('Dr. Ada turned video off. Audio continues.')
    expect(audioOnlyNotice(off, { on: true, reason: 'network' }, 'Dr. Ada'))
      .toBe("Video is paused because Dr. Ada's connection was weak. Audio continues.")
    // Ours first: it is the one this person can change.
    expect(audioOnlyNotice({ on: true, reason: 'manual' }, { on: true, reason: 'network' }, 'Dr. Ada'))
      .toBe('You turned video off. Audio continues.')
  })
})

describe('pausing the video sender', () => {
  function fakePc(kind: string, encodings: RTCRtpEncodingParameters[]) {
    let params = { encodings, transactionId: 't' } as unknown as RTCRtpSendParameters
    const sender = {
      getParameters: () => structuredClone(params),
      setParameters: async (p: RTCRtpSendParameters) => void (params = p),
    }
    const pc = { getTransceivers: () => [{ receiver: { track: { kind } }, sender, currentDirection: 'sendrecv' }] }
    return { pc: pc as unknown as RTCPeerConnection, params: () => params }
  }

  it('turns every video encoding off and on, keeping its other parameters', async () => {
    const { pc, params } = fakePc('video', [{ active: true, maxBitrate: 50_000 }])
    expect(await applyVideoSending(pc, false)).toBe(true)
    expect(params().encodings).toEqual([{ active: false, maxBitrate: 50_000 }])
    expect(await applyVideoSending(pc, false)).toBe(false) // nothing to change
    expect(await applyVideoSending(pc, true)).toBe(true)
    expect(params().encodings).toEqual([{ active: true, maxBitrate: 50_000 }])
  })

  it('leaves audio alone, and a sender not negotiated yet (no encodings)', async () => {
    expect(await applyVideoSending(fakePc('audio', [{ active: true }]).pc, false)).toBe(false)
    expect(await applyVideoSending(fakePc('video', []).pc, false)).toBe(false)
  })
})

describe('the call\'s audio-only state', () => {
  it('pauses for either side, tells the other side only about our own changes, and the button ends a network pause', async () => {
    let told = 0
    const ao = useAudioOnly({ pc: () => null, changed: () => (told += 1) })
    ao.fromOther(true, 'network')
    await nextTick()
    expect(ao.active.value).toBe(true)
    expect(told).toBe(0) // their wish is theirs: nothing to send back
    ao.fromOther(false, 'network')
    for (let t = 0; t <= 6000; t += 2000) ao.reading('poor', null, t)
    await nextTick()
    expect(ao.mine.value).toEqual({ on: true, reason: 'network' })
    expect(told).toBe(1)
    ao.toggle(8000) // "Audio only" pressed again: video back on
    await nextTick()
    expect(ao.mine.value).toEqual({ on: false, reason: null })
    expect(told).toBe(2)
    ao.toggle()
    await nextTick()
    expect(ao.mine.value).toEqual({ on: true, reason: 'manual' })
    ao.reset()
    expect(ao.active.value).toBe(false)
  })
})
