/**
 * Sample getStats every two seconds: judge the connection (four levels, see judgeQuality in
 * ./negotiation) and add the sample to the call's totals, which become the quality summary sent
 * when the call ends (POST /appointments/{id}/quality).
 */
import type { CallQualityReport } from '@/api/client'
import { judgeQuality, nextTrend, type Quality, type QualityTrend, type StatsSample } from './negotiation'

export interface Sample extends StatsSample {
  framesDecoded: number
  /** Bytes received on every inbound stream (audio and video). */
  bytesReceived: number
  freezeCount: number
  /** Whether the selected candidate pair goes through TURN (null: no pair selected yet). */
  relay: boolean | null
  /** The sender's bandwidth estimate on the selected pair, kbit/s (null: not reported). */
  availableOutgoingKbps: number | null
  /** Each inbound stream's own counters, by its report id: the totals grow stream by stream. */
  streams: Record<string, StreamCounters>
}

export interface StreamCounters {
  packetsReceived: number
  packetsLost: number
  bytesReceived: number
  freezeCount: number
}

export async function sample(pc: RTCPeerConnection, now = Date.now()): Promise<Sample> {
  const stats = await pc.getStats()
  const out: Sample = { rttSeconds: null, jitterSeconds: null, packetsReceived: 0, packetsLost: 0,
    framesPerSecond: null, framesDecoded: 0, videoBytesReceived: 0, bytesReceived: 0, freezeCount: 0,
    relay: null, availableOutgoingKbps: null, atMs: now, streams: {} }
  let pairLocal: string | undefined
  let pairRemote: string | undefined
  const candidates = new Map<string, string | undefined>()
  stats.forEach((report) => {
    if (report.type === 'candidate-pair' && report.nominated && report.state === 'succeeded') {
      out.rttSeconds = report.currentRoundTripTime ?? out.rttSeconds
      pairLocal = report.localCandidateId
      pairRemote = report.remoteCandidateId
      if (typeof report.availableOutgoingBitrate === 'number') out.availableOutgoingKbps = report.availableOutgoingBitrate / 1000
    }
    if (report.type === 'local-candidate' || report.type === 'remote-candidate') {
      candidates.set(report.id, report.candidateType)
    }
    if (report.type === 'inbound-rtp') {
      out.streams[report.id] = { packetsReceived: report.packetsReceived ?? 0, packetsLost: Math.max(0, report.packetsLost ?? 0),
        bytesReceived: report.bytesReceived ?? 0, freezeCount: report.freezeCount ?? 0 }
      out.packetsReceived += report.packetsReceived ?? 0
      out.packetsLost += Math.max(0, report.packetsLost ?? 0)
      out.bytesReceived += report.bytesReceived ?? 0
      if (typeof report.jitter === 'number') out.jitterSeconds = Math.max(out.jitterSeconds ?? 0, report.jitter)
      if (report.kind === 'video') {
        // The best video line: a screen line nobody shares on (calls/peer.ts) reports no frames,
        // and must not make the camera's picture look frozen.
        if (typeof report.framesPerSecond === 'number') out.framesPerSecond = Math.max(out.framesPerSecond ?? 0, report.framesPerSecond)
        out.framesDecoded += report.framesDecoded ?? 0
        out.videoBytesReceived! += report.bytesReceived ?? 0
        out.freezeCount += report.freezeCount ?? 0
      }
    }
  })
  if (pairLocal !== undefined) {
    out.relay = candidates.get(pairLocal) === 'relay' || candidates.get(pairRemote ?? '') === 'relay'
  }
  return out
}

/** What a call added up to, sample by sample (counters that restart with a new peer connection
 * are taken from zero again). */
export interface CallTotals {
  connectedAtMs: number | null
  rttSumMs: number
  rttCount: number
  packetsReceived: number
  packetsLost: number
  bytesReceived: number
  /** Time covered by the byte counts, ms. */
  measuredMs: number
  freezes: number
  reconnects: number
  relay: boolean | null
  /** Time with video paused (audio only, by hand or for a weak link), ms; and since when, if now. */
  audioOnlyMs: number
  audioOnlySinceMs: number | null
}

export function newTotals(): CallTotals {
  return { connectedAtMs: null, rttSumMs: 0, rttCount: 0, packetsReceived: 0, packetsLost: 0, bytesReceived: 0,
    measuredMs: 0, freezes: 0, reconnects: 0, relay: null, audioOnlyMs: 0, audioOnlySinceMs: null }
}

/** Video paused (`on`) or back at `atMs`: the audio-only time of the call's summary. */
export function markAudioOnly(t: CallTotals, on: boolean, atMs: number): void {
  if (on && t.audioOnlySinceMs === null) t.audioOnlySinceMs = atMs
  if (!on && t.audioOnlySinceMs !== null) {
    t.audioOnlyMs += Math.max(0, atMs - t.audioOnlySinceMs)
    t.audioOnlySinceMs = null
  }
}

const grew = (a: number, b: number) => (b >= a ? b - a : b)

/** Add one sample (and the interval since the previous one of the same connection) to the totals. */
export function addSample(t: CallTotals, prev: Sample | null, next: Sample): void {
  if (next.rttSeconds !== null) {
    t.rttSumMs += next.rttSeconds * 1000
    t.rttCount += 1
  }
  if (next.relay !== null) t.relay = next.relay
  if (!prev) return
  // Stream by stream: Firefox drops a paused video stream's report and starts its counters again
  // from zero when it resumes, so a sum over all streams would fall back and be taken as a restart.
  // A stream new since the last sample (or restarted) counts from zero; one gone counts nothing more.
  for (const [id, now] of Object.entries(next.streams)) {
    const before = prev.streams[id] ?? { packetsReceived: 0, packetsLost: 0, bytesReceived: 0, freezeCount: 0 }
    t.packetsReceived += grew(before.packetsReceived, now.packetsReceived)
    t.packetsLost += grew(before.packetsLost, now.packetsLost)
    t.bytesReceived += grew(before.bytesReceived, now.bytesReceived)
    t.freezes += grew(before.freezeCount, now.freezeCount)
  }
  t.measuredMs += Math.max(0, (next.atMs ?? 0) - (prev.atMs ?? 0))
}

/** The summary sent at hang-up: the contract's CallQualityCreate, within its bounds. */
export function buildSummary(t: CallTotals, endedAtMs: number): CallQualityReport {
  const clamp = (v: number, hi: number) => Math.min(hi, Math.max(0, v))
  const packets = t.packetsReceived + t.packetsLost
  return {
    duration_seconds: t.connectedAtMs === null ? 0 : clamp(Math.round((endedAtMs - t.connectedAtMs) / 1000), 86_400),
    path: t.relay === null ? 'unknown' : t.relay ? 'relay' : 'direct',
    rtt_ms: t.rttCount ? clamp(Math.round(t.rttSumMs / t.rttCount), 600_000) : null,
    loss_percent: packets ? Math.round((10_000 * t.packetsLost) / packets) / 100 : null,
    bitrate_kbps: t.measuredMs > 0 ? clamp(Math.round((t.bytesReceived * 8) / t.measuredMs), 10_000_000) : null,
    freezes: clamp(t.freezes, 100_000),
    reconnects: clamp(t.reconnects, 10_000),
    audio_only_seconds: clamp(Math.round(
      (t.audioOnlyMs + (t.audioOnlySinceMs === null ? 0 : Math.max(0, endedAtMs - t.audioOnlySinceMs))) / 1000), 86_400),
  }
}

export interface QualityWatch {
  stop(): void
  totals: CallTotals
}

/**
 * Every two seconds while connected: judge, smooth (nextTrend) and tell `onQuality` the level to
 * show, and add the sample to the totals. A connection that is disconnected or failed is `lost` at
 * once; coming back from it counts as a reconnect.
 */
export function watchQuality(getPc: () => RTCPeerConnection | null, onQuality: (q: Quality) => void,
  opts: {
    videoExpected?: () => boolean
    /** Every judged sample, unsmoothed, with its connection (calls/audioOnly.ts decides from it). */
    onSample?: (judged: Quality, next: Sample, pc: RTCPeerConnection) => void
  } = {}): QualityWatch {
  let prev: Sample | null = null
  let prevPc: RTCPeerConnection | null = null
  let trend: QualityTrend = { shown: 'unknown', candidate: 'unknown', streak: 0 }
  let wasLost = false
  const totals = newTotals()
  const show = (q: Quality) => {
    trend = nextTrend(trend, q)
    onQuality(trend.shown)
  }
  const timer = setInterval(async () => {
    const pc = getPc()
    if (!pc) return
    if (pc.connectionState === 'disconnected' || pc.connectionState === 'failed') {
      if (totals.connectedAtMs !== null) {
        wasLost = true
        show('lost')
      }
      prev = null
      return
    }
    if (pc.connectionState !== 'connected') return
    const next = await sample(pc)
    if (pc !== prevPc) prev = null // a rebuilt connection: its counters start again
    totals.connectedAtMs ??= next.atMs ?? Date.now()
    if (wasLost) {
      totals.reconnects += 1
      wasLost = false
    }
    addSample(totals, prev, next)
    const judged = judgeQuality(prev, next, { videoExpected: opts.videoExpected?.() ?? true })
    if (judged !== 'unknown') show(judged)
    opts.onSample?.(judged, next, pc)
    prev = next
    prevPc = pc
  }, 2000)
  return { stop: () => clearInterval(timer), totals }
}
