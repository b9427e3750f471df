/** Sample getStats every few seconds and judge the connection (good / poor). */
import { judgeQuality, type Quality, type StatsSample } from './negotiation'

export async function sample(pc: RTCPeerConnection): Promise<StatsSample & { framesDecoded: number }> {
  const stats = await pc.getStats()
  const out = { rttSeconds: null as number | null, packetsReceived: 0, packetsLost: 0,
    framesPerSecond: null as number | null, framesDecoded: 0 }
  stats.forEach((report) => {
    if (report.type === 'candidate-pair' && report.nominated && report.state === 'succeeded') {
      out.rttSeconds = report.currentRoundTripTime ?? out.rttSeconds
    }
    if (report.type === 'inbound-rtp') {
      out.packetsReceived += report.packetsReceived ?? 0
      out.packetsLost += Math.max(0, report.packetsLost ?? 0)
      if (report.kind === 'video') {
        out.framesPerSecond = report.framesPerSecond ?? out.framesPerSecond
        out.framesDecoded += report.framesDecoded ?? 0
      }
    }
  })
  return out
}

export function watchQuality(getPc: () => RTCPeerConnection | null, onQuality: (q: Quality) => void): () => void {
  let prev: StatsSample | null = null
  let poorStreak = 0
  const timer = setInterval(async () => {
    const pc = getPc()
    if (!pc || pc.connectionState !== 'connected') {
      prev = null
      return
    }
    const next = await sample(pc)
    const q = judgeQuality(prev, next)
    prev = next
    poorStreak = q === 'poor' ? poorStreak + 1 : 0
    // One bad sample is noise; two in a row is what the user notices.
    onQuality(poorStreak >= 2 ? 'poor' : q === 'unknown' ? 'unknown' : 'good')
  }, 2000)
  return () => clearInterval(timer)
}
