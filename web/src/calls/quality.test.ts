import { describe, expect, it } from 'vitest'
import { addSample, buildSummary, markAudioOnly, newTotals, sample, type Sample } from './quality'

function fakePc(reports: Record<string, unknown>[]): RTCPeerConnection {
  const map = new Map(reports.map((r, i) => [String(r.id ?? i), r]))
  return { getStats: async () => map } as unknown as RTCPeerConnection
}

/** A sample; unless given, its streams are one inbound stream holding all its counters. */
const s = (over: Partial<Sample> = {}): Sample => {
  const base: Sample = {
    rttSeconds: 0.05, jitterSeconds: 0.004, packetsReceived: 1000, packetsLost: 0, framesPerSecond: 25,
    framesDecoded: 500, videoBytesReceived: 800_000, bytesReceived: 1_000_000, freezeCount: 0, relay: false,
    availableOutgoingKbps: null, atMs: 0, streams: {}, ...over,
  }
  if (!over.streams) {
    const { packetsReceived, packetsLost, bytesReceived, freezeCount } = base
    base.streams = { in: { packetsReceived, packetsLost, bytesReceived, freezeCount } }
  }
  return base
}

describe('sample', () => {
  it('reads the selected pair (relay or direct), the inbound streams and their freezes', async () => {
    const pc = fakePc([
      { id: 'p1', type: 'candidate-pair', nominated: true, state: 'succeeded', currentRoundTripTime: 0.12,
        localCandidateId: 'l1', remoteCandidateId: 'r1' },
      { id: 'l1', type: 'local-candidate', candidateType: 'relay' },
      { id: 'r1', type: 'remote-candidate', candidateType: 'srflx' },
      { id: 'a', type: 'inbound-rtp', kind: 'audio', packetsReceived: 300, packetsLost: 3, bytesReceived: 30_000, jitter: 0.01 },
      { id: 'v', type: 'inbound-rtp', kind: 'video', packetsReceived: 700, packetsLost: -1, bytesReceived: 700_000,
        jitter: 0.02, framesPerSecond: 24, framesDecoded: 480, freezeCount: 2 },
    ])
    const got = await sample(pc, 5000)
    expect(got).toMatchObject({ rttSeconds: 0.12, relay: true, packetsReceived: 1000, packetsLost: 3,
      bytesReceived: 730_000, videoBytesReceived: 700_000, framesPerSecond: 24, freezeCount: 2,
      jitterSeconds: 0.02, atMs: 5000 })
    const direct = await sample(fakePc([
      { id: 'p1', type: 'candidate-pair', nominated: true, state: 'succeeded', localCandidateId: 'l1', remoteCandidateId: 'r1' },
      { id: 'l1', type: 'local-candidate', candidateType: 'host' },
      { id: 'r1', type: 'remote-candidate', candidateType: 'srflx' },
    ]))
    expect(direct.relay).toBe(false)
    expect((await sample(fakePc([]))).relay).toBeNull()
  })

  it('takes the frame rate of the video line that moves, not of a silent screen line after it', async () => {
    const got = await sample(fakePc([
      { id: 'cam', type: 'inbound-rtp', kind: 'video', packetsReceived: 700, framesPerSecond: 24, framesDecoded: 480 },
      { id: 'screen', type: 'inbound-rtp', kind: 'video', packetsReceived: 50, framesPerSecond: 0, framesDecoded: 30 },
    ]))
    expect(got.framesPerSecond).toBe(24)
    expect(got.framesDecoded).toBe(510)
  })
})

describe('buildSummary', () => {
  it('adds up a call: duration from the first connection, averages, loss, bitrate, freezes, reconnects', () => {
    const t = newTotals()
    t.connectedAtMs = 1_000
    const samples = [
      s({ atMs: 1_000 }),
      s({ atMs: 3_000, rttSeconds: 0.07, packetsReceived: 1_190, packetsLost: 10, bytesReceived: 1_250_000, freezeCount: 1 }),
      // A rebuilt peer connection: its counters start from zero again.
      s({ atMs: 5_000, rttSeconds: 0.09, packetsReceived: 100, packetsLost: 0, bytesReceived: 250_000, relay: true }),
    ]
    addSample(t, null, samples[0]!)
    addSample(t, samples[0]!, samples[1]!)
    addSample(t, samples[1]!, samples[2]!)
    t.reconnects = 1
    markAudioOnly(t, true, 10_000)
    markAudioOnly(t, false, 22_000) // 12 s with video paused, then again from 55 s to the end
    markAudioOnly(t, true, 55_000)
    expect(buildSummary(t, 61_400)).toEqual({
      duration_seconds: 60, path: 'relay', rtt_ms: 70, loss_percent: 3.33, bitrate_kbps: 1000,
      freezes: 1, reconnects: 1, audio_only_seconds: 18,
    })
  })

  it('adds each stream\'s growth: a video stream that vanishes while paused and restarts from zero (Firefox) counts once', () => {
    const t = newTotals()
    const counters = (packetsReceived: number, bytesReceived: number) => ({ packetsReceived, packetsLost: 0, bytesReceived, freezeCount: 0 })
    const samples = [
      s({ atMs: 0, streams: { a: counters(100, 10_000), v: counters(500, 500_000) } }),
      s({ atMs: 2_000, streams: { a: counters(200, 20_000) } }), // video paused: its report is gone
      s({ atMs: 4_000, streams: { a: counters(300, 30_000), v: counters(50, 40_000) } }), // back, from zero
    ]
    addSample(t, null, samples[0]!)
    addSample(t, samples[0]!, samples[1]!)
    addSample(t, samples[1]!, samples[2]!)
    expect(t.packetsReceived).toBe(100 + 100 + 50) // the audio received so far is not counted again
    expect(t.bytesReceived).toBe(10_000 + 10_000 + 40_000)
  })

  it('reports a call that never connected with nothing measured', () => {
    expect(buildSummary(newTotals(), 10_000)).toEqual({
      duration_seconds: 0, path: 'unknown', rtt_ms: null, loss_percent: null, bitrate_kbps: null, freezes: 0, reconnects: 0, audio_only_seconds: 0,
    })
  })

  it('stays within the contract bounds', () => {
    const t = newTotals()
    t.connectedAtMs = 0
    t.reconnects = 50_000
    t.rttSumMs = 10_000_000
    t.rttCount = 1
    const got = buildSummary(t, 200_000_000)
    expect(got.duration_seconds).toBe(86_400)
    expect(got.reconnects).toBe(10_000)
    expect(got.rtt_ms).toBe(600_000)
  })
})
