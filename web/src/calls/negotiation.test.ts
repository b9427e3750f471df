import { describe, expect, it } from 'vitest'
import {
  isOfferCollision, judgeQuality, LOSS_WEIGHT, nextTrend, packetScore, planOffer, shouldIgnoreOffer, type OfferContext,
  type Quality, type QualityTrend, type StatsSample,
} from './negotiation'

const ctx = (over: Partial<OfferContext> = {}): OfferContext => ({
  polite: true, makingOffer: false, signalingState: 'stable', isSettingRemoteAnswerPending: false, ...over,
})

describe('perfect negotiation', () => {
  it('an offer in a stable state is no collision', () => {
    expect(isOfferCollision('offer', ctx())).toBe(false)
    expect(shouldIgnoreOffer('offer', ctx({ polite: false }))).toBe(false)
  })

  it('glare: the impolite side ignores the other offer, the polite side takes it', () => {
    expect(isOfferCollision('offer', ctx({ makingOffer: true }))).toBe(true)
    expect(shouldIgnoreOffer('offer', ctx({ polite: false, makingOffer: true }))).toBe(true)
    expect(shouldIgnoreOffer('offer', ctx({ polite: true, makingOffer: true }))).toBe(false)
    expect(shouldIgnoreOffer('offer', ctx({ polite: false, signalingState: 'have-local-offer' }))).toBe(true)
  })

  it('an offer while an answer is being applied is not a collision', () => {
    const c = ctx({ polite: false, signalingState: 'have-local-offer', isSettingRemoteAnswerPending: true })
    expect(isOfferCollision('offer', c)).toBe(false)
  })

  it('answers never collide', () => {
    expect(isOfferCollision('answer', ctx({ makingOffer: true, signalingState: 'have-local-offer' }))).toBe(false)
  })
})

describe('planOffer', () => {
  const base = { polite: false, otherPresent: true, hasOffered: false, connectionState: 'new' as RTCPeerConnectionState }

  it('only the impolite side offers, and only once the other side is in the room', () => {
    expect(planOffer({ ...base, polite: true })).toBe('none')
    expect(planOffer({ ...base, otherPresent: false })).toBe('none')
    expect(planOffer(base)).toBe('offer')
  })

  it('a rejoin after the first offer restarts ICE; a dead connection is rebuilt', () => {
    expect(planOffer({ ...base, hasOffered: true, connectionState: 'connected' })).toBe('ice-restart')
    expect(planOffer({ ...base, hasOffered: true, connectionState: 'failed' })).toBe('rebuild')
    expect(planOffer({ ...base, hasOffered: true, connectionState: 'closed' })).toBe('rebuild')
  })
})

describe('judgeQuality', () => {
  // Two seconds apart, 100 packets, 500 kbit/s of video at 25 frames a second: an excellent link.
  const s = (over: Partial<StatsSample> = {}): StatsSample => ({
    rttSeconds: 0.05, jitterSeconds: 0.005, packetsReceived: 1000, packetsLost: 0, framesPerSecond: 25,
    videoBytesReceived: 1_000_000, atMs: 10_000, ...over,
  })
  const after = (over: Partial<StatsSample> = {}) => s({ packetsReceived: 1100, videoBytesReceived: 1_125_000, atMs: 12_000, ...over })

  it('needs two samples', () => {
    expect(judgeQuality(null, s())).toBe('unknown')
  })

  it('scores round trip, jitter and loss like LiveKit (100 − delay − loss × weight)', () => {
    expect(packetScore(0, 0, 0)).toBe(100)
    expect(packetScore(100, 10, 0)).toBeCloseTo(100 - 70 / 40)
    expect(packetScore(400, 30, 0)).toBeCloseTo(100 - (260 - 120) / 10)
    expect(packetScore(0, 0, 5)).toBe(100 - 5 * LOSS_WEIGHT)
    expect(packetScore(5000, 0, 50)).toBe(0)
  })

  it('gives four levels from loss', () => {
    expect(judgeQuality(s(), after())).toBe('excellent')
    expect(judgeQuality(s(), after({ packetsLost: 2 }))).toBe('excellent') // 2 %
    expect(judgeQuality(s(), after({ packetsLost: 4 }))).toBe('good') // 3.8 %
    expect(judgeQuality(s(), after({ packetsReceived: 1100, packetsLost: 20 }))).toBe('poor') // 17 %
    expect(judgeQuality(s(), after({ packetsReceived: 1000 }))).toBe('lost') // nothing arrived
  })

  it('caps the level by the round trip (ITU-T G.114)', () => {
    expect(judgeQuality(s(), after({ rttSeconds: 0.3 }))).toBe('excellent')
    expect(judgeQuality(s(), after({ rttSeconds: 0.4 }))).toBe('good')
    expect(judgeQuality(s(), after({ rttSeconds: 0.9 }))).toBe('poor')
    expect(judgeQuality(s(), after({ rttSeconds: null }))).toBe('excellent')
  })

  it('caps it by the received picture: frame rate and bitrate, only when video is expected', () => {
    expect(judgeQuality(s(), after({ framesPerSecond: 10 }))).toBe('good')
    expect(judgeQuality(s(), after({ framesPerSecond: 3 }))).toBe('poor')
    expect(judgeQuality(s(), after({ videoBytesReceived: 1_025_000 }))).toBe('good') // 100 kbit/s
    expect(judgeQuality(s(), after({ videoBytesReceived: 1_010_000 }))).toBe('poor') // 40 kbit/s
    // The other side's camera is off: a still picture is not a bad network.
    expect(judgeQuality(s(), after({ framesPerSecond: 1, videoBytesReceived: 1_000_100 }), { videoExpected: false }))
      .toBe('excellent')
  })

  it('takes counters that restarted (a new peer connection) as the new totals', () => {
    expect(judgeQuality(s(), after({ packetsReceived: 100, videoBytesReceived: 125_000 }))).toBe('excellent')
  })
})

describe('nextTrend', () => {
  const run = (levels: Quality[]) => {
    let t: QualityTrend = { shown: 'unknown', candidate: 'unknown', streak: 0 }
    return levels.map((l) => (t = nextTrend(t, l)).shown)
  }

  it('takes the first level at once, then a change after two samples agree', () => {
    expect(run(['excellent', 'poor', 'excellent', 'poor', 'poor', 'good', 'good']))
      .toEqual(['excellent', 'excellent', 'excellent', 'excellent', 'poor', 'poor', 'good'])
  })

  it('shows lost at once', () => {
    expect(run(['good', 'lost', 'good', 'good'])).toEqual(['good', 'lost', 'lost', 'good'])
  })
})

describe('fingerprint', () => {
  it('reads the DTLS fingerprint that tells a new peer connection from an ICE restart', async () => {
    const { fingerprint } = await import('./peer')
    const sdp = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=fingerprint:sha-256 AB:CD:EF\r\na=setup:actpass\r\n'
    expect(fingerprint(sdp)).toBe('sha-256 AB:CD:EF')
    expect(fingerprint('v=0\r\n')).toBeNull()
    expect(fingerprint(undefined)).toBeNull()
  })
})
