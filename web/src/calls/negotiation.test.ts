import { describe, expect, it } from 'vitest'
import { isOfferCollision, judgeQuality, planOffer, shouldIgnoreOffer, type OfferContext } from './negotiation'

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
  const s = (over = {}) => ({ rttSeconds: 0.05, packetsReceived: 1000, packetsLost: 0, framesPerSecond: 25, ...over })

  it('needs two samples', () => {
    expect(judgeQuality(null, s())).toBe('unknown')
  })

  it('flags high loss, long round trips and a stuttering picture', () => {
    expect(judgeQuality(s(), s({ packetsReceived: 1200 }))).toBe('good')
    expect(judgeQuality(s(), s({ packetsReceived: 1100, packetsLost: 20 }))).toBe('poor')
    expect(judgeQuality(s(), s({ packetsReceived: 1200, rttSeconds: 0.8 }))).toBe('poor')
    expect(judgeQuality(s(), s({ packetsReceived: 1200, framesPerSecond: 3 }))).toBe('poor')
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
