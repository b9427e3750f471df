/** The pre-call check's results as the check-in sends them: camera, microphone and a short network test. */
import { api, call, type Checks, type CheckResult, type NetworkCheck } from '@/api/client'

export function mediaChecks(stream: MediaStream | null, failed: boolean): Pick<Checks, 'camera' | 'microphone'> {
  const live = (kind: 'video' | 'audio'): CheckResult => {
    if (!stream) return failed ? 'failed' : 'skipped'
    return stream.getTracks().some((t) => t.kind === kind && t.readyState === 'live') ? 'ok' : 'failed'
  }
  return { camera: live('video'), microphone: live('audio') }
}

/**
 * A short network test: the median round trip of three small requests to Televisit. TURN is
 * tested by the call itself (its credentials come with the call), so it is reported as skipped.
 */
export async function networkCheck(appointmentId: string, samples = 3): Promise<NetworkCheck> {
  const times: number[] = []
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now()
    try {
      await call(api.GET('/api/v1/appointments/{appointment_id}', { params: { path: { appointment_id: appointmentId } } }))
    } catch {
      return { rtt_ms: null, bitrate_kbps: null, turn: 'skipped' }
    }
    times.push(performance.now() - t0)
  }
  times.sort((a, b) => a - b)
  return { rtt_ms: Math.round(times[Math.floor(times.length / 2)]), bitrate_kbps: null, turn: 'skipped' }
}
