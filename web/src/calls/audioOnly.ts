/**
 * Audio only: both sides stop sending video, by choice (`manual`) or because one side's link stayed
 * weak (`network`), and video comes back when the link has been good for a while. The decision is
 * pure (`nextFallback`, one reading every two seconds from calls/quality.ts); pausing the video
 * sets the video sender's encodings `active: false`, so the encoder stops and no video packets
 * leave (the camera track stays attached, and nothing is renegotiated).
 *
 * Thresholds (docs/web.md, "Audio only", lists them with their sources):
 * - weak: the sample's judged level is `poor` (calls/negotiation.ts: loss above about 7.5 %, RTT
 *   above 800 ms, received video below 60 kbit/s or 8 fps), or the available outgoing bitrate is
 *   below {@link WEAK_KBPS} (Jitsi's smallest layer, 180p ≈ 200 kbit/s: not even it fits);
 * - video is paused after {@link WEAK_FOR_MS} of weak readings in a row;
 * - good again: the level is excellent or good and the available outgoing bitrate (when the
 *   browser reports one) is at least {@link GOOD_KBPS}, for {@link RESTORE_AFTER_MS}; a relapse
 *   within {@link RELAPSE_WINDOW_MS} of a restore doubles that wait, up to {@link MAX_HOLD_MS}.
 */
import { computed, ref, watch } from 'vue'
import type { Quality } from './negotiation'

export type AudioOnlyReason = 'manual' | 'network'

export const WEAK_KBPS = 200
export const GOOD_KBPS = 300
export const WEAK_FOR_MS = 6_000
export const RESTORE_AFTER_MS = 10_000
export const RELAPSE_WINDOW_MS = 60_000
export const MAX_HOLD_MS = 80_000

/** One reading of our link: the level judged from the last two getStats samples, unsmoothed. */
export interface LinkReading {
  level: Quality
  availableOutgoingKbps: number | null
  atMs: number
}

export interface FallbackState {
  audioOnly: boolean
  weakSinceMs: number | null
  goodSinceMs: number | null
  /** How long the link must stay good before video comes back. */
  holdMs: number
  restoredAtMs: number | null
}

export function initialFallback(): FallbackState {
  return { audioOnly: false, weakSinceMs: null, goodSinceMs: null, holdMs: RESTORE_AFTER_MS, restoredAtMs: null }
}

export function isWeak(r: LinkReading): boolean {
  return r.level === 'poor' || (r.availableOutgoingKbps !== null && r.availableOutgoingKbps < WEAK_KBPS)
}

export function isGood(r: LinkReading): boolean {
  return (r.level === 'excellent' || r.level === 'good')
    && (r.availableOutgoingKbps === null || r.availableOutgoingKbps >= GOOD_KBPS)
}

/** The next state after one reading. `unknown` and `lost` (nothing flows: pausing video cannot
 * help, reconnecting does) break a streak without starting one. */
export function nextFallback(s: FallbackState, r: LinkReading): FallbackState {
  if (!s.audioOnly) {
    if (!isWeak(r)) return { ...s, weakSinceMs: null }
    const since = s.weakSinceMs ?? r.atMs
    if (r.atMs - since < WEAK_FOR_MS) return { ...s, weakSinceMs: since }
    const relapse = s.restoredAtMs !== null && r.atMs - s.restoredAtMs < RELAPSE_WINDOW_MS
    return {
      audioOnly: true, weakSinceMs: null, goodSinceMs: null, restoredAtMs: s.restoredAtMs,
      holdMs: relapse ? Math.min(MAX_HOLD_MS, s.holdMs * 2) : RESTORE_AFTER_MS,
    }
  }
  if (!isGood(r)) return { ...s, goodSinceMs: null }
  const since = s.goodSinceMs ?? r.atMs
  if (r.atMs - since < s.holdMs) return { ...s, goodSinceMs: since }
  return { ...s, audioOnly: false, goodSinceMs: null, weakSinceMs: null, restoredAtMs: r.atMs }
}

/** Our wish and the other side's, as sent and received in `media.state`. */
export interface AudioOnlySide {
  on: boolean
  reason: AudioOnlyReason | null
}

/** What the call screen says, in the person's words (null: video is on). Ours first: it is the
 * one the person can change. */
export function audioOnlyNotice(mine: AudioOnlySide, theirs: AudioOnlySide, otherName: string): string | null {
  if (mine.on && mine.reason === 'manual') return 'You turned video off. Audio continues.'
  if (mine.on) return 'Video is paused because your connection was weak. Audio continues.'
  if (theirs.on && theirs.reason === 'manual') return `${otherName} turned video off. Audio continues.`
  if (theirs.on) return `Video is paused because ${otherName}'s connection was weak. Audio continues.`
  return null
}

/**
 * Pause or resume every video sender of the connection (encodings `active`), keeping the other
 * encoding parameters. Returns whether anything changed. A rebuilt connection has fresh senders,
 * so the call applies this again on every quality reading.
 */
export async function applyVideoSending(pc: RTCPeerConnection, send: boolean): Promise<boolean> {
  let changed = false
  for (const t of pc.getTransceivers()) {
    if (t.receiver.track.kind !== 'video' || t.currentDirection === 'stopped') continue
    const params = t.sender.getParameters()
    if (!params.encodings?.length || params.encodings.every((e) => (e.active ?? true) === send)) continue
    params.encodings = params.encodings.map((e) => ({ ...e, active: send }))
    await t.sender.setParameters(params)
    changed = true
  }
  return changed
}

/**
 * The call's audio-only state: our choice, our link's fallback, the other side's wish, and the
 * senders kept in line with them. `changed` is told when our side of it changed (send media.state).
 */
export function useAudioOnly(hooks: { pc: () => RTCPeerConnection | null; changed: () => void }) {
  const manual = ref(false)
  const fallback = ref<FallbackState>(initialFallback())
  const theirs = ref<AudioOnlySide>({ on: false, reason: null })
  const mine = computed<AudioOnlySide>(() => (manual.value ? { on: true, reason: 'manual' }
    : fallback.value.audioOnly ? { on: true, reason: 'network' } : { on: false, reason: null }))
  /** Whether video is paused in this call (either side asked). */
  const active = computed(() => mine.value.on || theirs.value.on)

  async function sync(): Promise<void> {
    const pc = hooks.pc()
    if (!pc || pc.connectionState === 'closed') return
    try {
      await applyVideoSending(pc, !active.value)
    } catch (err) {
      console.warn('video sending not changed', err)
    }
  }

  watch(active, () => void sync())
  watch(() => `${mine.value.on}:${mine.value.reason}`, () => hooks.changed())

  /** One judged quality sample (calls/quality.ts `onSample`). */
  function reading(level: Quality, availableOutgoingKbps: number | null, atMs: number): void {
    fallback.value = nextFallback(fallback.value, { level, availableOutgoingKbps, atMs })
    void sync() // a rebuilt connection's senders start active
  }

  /** The person's button: video off, or back on (which also ends a network pause; the relapse
   * rule still holds if the link is still weak). */
  function toggle(now = Date.now()): void {
    if (mine.value.on) {
      manual.value = false
      if (fallback.value.audioOnly) fallback.value = { ...fallback.value, audioOnly: false, goodSinceMs: null, restoredAtMs: now }
    } else {
      manual.value = true
    }
  }

  function fromOther(on: boolean, reason: AudioOnlyReason | null | undefined): void {
    theirs.value = on ? { on, reason: reason ?? 'manual' } : { on: false, reason: null }
  }

  function reset(): void {
    manual.value = false
    fallback.value = initialFallback()
    theirs.value = { on: false, reason: null }
  }

  return { mine, theirs, active, reading, toggle, fromOther, reset, sync }
}
