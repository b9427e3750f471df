/** Perfect negotiation's decisions (W3C WebRTC example), as pure functions the tests can cover. */

export interface OfferContext {
  polite: boolean
  makingOffer: boolean
  signalingState: RTCSignalingState
  isSettingRemoteAnswerPending: boolean
}

/** An incoming offer collides when we are making one, or are mid-negotiation and not just applying an answer. */
export function isOfferCollision(type: RTCSdpType, ctx: OfferContext): boolean {
  if (type !== 'offer') return false
  const readyForOffer = ctx.signalingState === 'stable' || ctx.isSettingRemoteAnswerPending
  return ctx.makingOffer || !readyForOffer
}

/** The impolite peer ignores a colliding offer; the polite one rolls back and takes it. */
export function shouldIgnoreOffer(type: RTCSdpType, ctx: OfferContext): boolean {
  return !ctx.polite && isOfferCollision(type, ctx)
}

/**
 * Who offers: only the impolite side (the doctor), and only once the other side is in the room,
 * because the server does not queue signals. Its first offer in a connection is plain; any later
 * one restarts ICE, unless the peer connection is beyond repair (then it is rebuilt and offers plain).
 */
export type OfferPlan = 'none' | 'offer' | 'ice-restart' | 'rebuild'

export function planOffer(opts: {
  polite: boolean
  otherPresent: boolean
  hasOffered: boolean
  connectionState: RTCPeerConnectionState
}): OfferPlan {
  if (opts.polite || !opts.otherPresent) return 'none'
  if (opts.connectionState === 'closed' || opts.connectionState === 'failed') return 'rebuild'
  return opts.hasOffered ? 'ice-restart' : 'offer'
}

/**
 * Connection quality from two getStats samples, in LiveKit's four levels (plus `unknown` before
 * there are two samples). The thresholds, and where they come from (docs/web.md lists them too):
 *
 * - A score out of 100 after LiveKit's simplified E-model (livekit/livekit
 *   pkg/sfu/connectionquality/scorer.go): 100 − delay effect − loss effect, where the effective
 *   delay is RTT/2 + 2 × jitter (ms), its effect delay/40, or (delay − 120)/10 above 160 ms, and
 *   the loss effect is the loss percentage × {@link LOSS_WEIGHT}. Above 80 is excellent, above 40
 *   good, else poor: LiveKit's cut-offs.
 * - The round trip on its own (ITU-T G.114: a one-way delay above 150 ms is noticed in a
 *   conversation, above 400 ms it is not acceptable): RTT above 300 ms is at most good, above 800 ms poor.
 * - Received video, when the other side's camera is on: fewer than 15 frames a second is at most
 *   good, fewer than 8 poor; below Jitsi's smallest layer (180p ≈ 200 kbit/s, jitsi-meet config.js
 *   `videoQuality.maxBitratesVideo.low`) at most good, below 60 kbit/s poor.
 * - Nothing at all received in the interval while connected: `lost` (LiveKit scores such a "dry"
 *   window poor; for a two-person call silence from the other side means media stopped).
 *   A peer connection that is disconnected or failed is `lost` too (calls/quality.ts).
 */
export type QualityLevel = 'excellent' | 'good' | 'poor' | 'lost'
export type Quality = QualityLevel | 'unknown'

/** Loss percentage points are worth this many score points (2.5 % ends excellent, 7.5 % ends good). */
export const LOSS_WEIGHT = 8
export const RTT_GOOD_MAX_S = 0.3
export const RTT_POOR_FROM_S = 0.8
export const FPS_EXCELLENT_MIN = 15
export const FPS_GOOD_MIN = 8
export const KBPS_EXCELLENT_MIN = 200
export const KBPS_GOOD_MIN = 60

export interface StatsSample {
  rttSeconds: number | null
  packetsReceived: number
  packetsLost: number
  framesPerSecond: number | null
  /** Received jitter (the worst inbound stream), seconds. */
  jitterSeconds?: number | null
  /** Bytes of received video so far, and when the sample was taken (ms): the received bitrate. */
  videoBytesReceived?: number
  atMs?: number
}

const ORDER: QualityLevel[] = ['lost', 'poor', 'good', 'excellent']
const worst = (...levels: QualityLevel[]): QualityLevel =>
  levels.reduce((a, b) => (ORDER.indexOf(a) <= ORDER.indexOf(b) ? a : b))

/** LiveKit's packet score (0–100) from the round trip, jitter and loss. */
export function packetScore(rttMs: number, jitterMs: number, lossPercent: number): number {
  const delay = rttMs / 2 + 2 * jitterMs
  const delayEffect = delay > 160 ? (delay - 120) / 10 : delay / 40
  return Math.max(0, 100 - delayEffect - lossPercent * LOSS_WEIGHT)
}

export function judgeQuality(prev: StatsSample | null, next: StatsSample,
  opts: { videoExpected?: boolean } = {}): Quality {
  if (!prev) return 'unknown'
  // Counters restart with a new peer connection: then the new totals are the interval's.
  const delta = (a: number, b: number) => (b >= a ? b - a : b)
  const received = delta(prev.packetsReceived, next.packetsReceived)
  const lost = delta(prev.packetsLost, next.packetsLost)
  if (received === 0 && lost === 0) return 'lost'
  const lossPercent = (100 * lost) / (received + lost)
  const rtt = next.rttSeconds
  const score = packetScore((rtt ?? 0) * 1000, (next.jitterSeconds ?? 0) * 1000, lossPercent)
  const levels: QualityLevel[] = [score > 80 ? 'excellent' : score > 40 ? 'good' : 'poor']
  if (rtt !== null) levels.push(rtt > RTT_POOR_FROM_S ? 'poor' : rtt > RTT_GOOD_MAX_S ? 'good' : 'excellent')
  if (opts.videoExpected !== false) {
    const fps = next.framesPerSecond
    if (fps !== null && received > 0) {
      levels.push(fps < FPS_GOOD_MIN ? 'poor' : fps < FPS_EXCELLENT_MIN ? 'good' : 'excellent')
    }
    const ms = next.atMs !== undefined && prev.atMs !== undefined ? next.atMs - prev.atMs : 0
    if (ms > 0 && next.videoBytesReceived !== undefined && prev.videoBytesReceived !== undefined) {
      const kbps = (delta(prev.videoBytesReceived, next.videoBytesReceived) * 8) / ms
      levels.push(kbps < KBPS_GOOD_MIN ? 'poor' : kbps < KBPS_EXCELLENT_MIN ? 'good' : 'excellent')
    }
  }
  return worst(...levels)
}

/**
 * What the screen shows, from what was judged: a change is taken when two samples in a row agree
 * (one bad sample is noise, and a level that flickers helps nobody), but `lost` at once.
 */
export interface QualityTrend {
  shown: Quality
  candidate: Quality
  streak: number
}

export function nextTrend(t: QualityTrend, judged: Quality): QualityTrend {
  if (judged === t.shown) return { shown: t.shown, candidate: judged, streak: 0 }
  const streak = judged === t.candidate ? t.streak + 1 : 1
  if (judged === 'lost' || t.shown === 'unknown' || streak >= 2) return { shown: judged, candidate: judged, streak: 0 }
  return { shown: t.shown, candidate: judged, streak }
}
