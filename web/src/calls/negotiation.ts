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

/** Connection quality from two getStats samples. */
export type Quality = 'good' | 'poor' | 'unknown'

export interface StatsSample {
  rttSeconds: number | null
  packetsReceived: number
  packetsLost: number
  framesPerSecond: number | null
}

export function judgeQuality(prev: StatsSample | null, next: StatsSample): Quality {
  if (!prev) return 'unknown'
  const received = next.packetsReceived - prev.packetsReceived
  const lost = next.packetsLost - prev.packetsLost
  const lossRatio = received + lost > 0 ? lost / (received + lost) : 0
  if (next.rttSeconds !== null && next.rttSeconds > 0.5) return 'poor'
  if (lossRatio > 0.08) return 'poor'
  if (next.framesPerSecond !== null && next.framesPerSecond < 8 && received > 0) return 'poor'
  return 'good'
}
