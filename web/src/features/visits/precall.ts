/**
 * The pre-call check's results as the check-in sends them: camera, microphone and a short network
 * test (Televisit's round trip over REST and over the signaling socket, a TURN relay gathered with
 * the visit's ICE servers, and a rough download speed).
 */
import { api, call, type Checks, type CheckResult, type NetworkCheck } from '@/api/client'
import { toRtcIceServers } from '@/calls/peer'
import type { ClientFrame, ServerFrameOf, ServerFrameType } from '@/realtime/signaling'

/** How long the TURN server has to hand out a relay candidate before it counts as unreachable. */
export const TURN_TIMEOUT_MS = 5_000
const PING_TIMEOUT_MS = 3_000

export function mediaChecks(stream: MediaStream | null, failed: boolean): Pick<Checks, 'camera' | 'microphone'> {
  const live = (kind: 'video' | 'audio'): CheckResult => {
    if (!stream) return failed ? 'failed' : 'skipped'
    return stream.getTracks().some((t) => t.kind === kind && t.readyState === 'live') ? 'ok' : 'failed'
  }
  return { camera: live('video'), microphone: live('audio') }
}

/** The part of the signaling client the ping needs. */
export interface PingClient {
  on<T extends ServerFrameType>(type: T, listener: (frame: ServerFrameOf<T>) => void): () => void
  sendNow(frame: ClientFrame): boolean
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

/** The median round trip of three small requests to Televisit, or null when it cannot be reached. */
async function restRoundTrip(appointmentId: string, samples = 3): Promise<number | null> {
  const times: number[] = []
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now()
    try {
      await call(api.GET('/api/v1/appointments/{appointment_id}', { params: { path: { appointment_id: appointmentId } } }))
    } catch {
      return null
    }
    times.push(performance.now() - t0)
  }
  return Math.round(median(times))
}

/** A `ping` over the signaling socket until its `pong`; null when the socket is not up or silent. */
export function signalingRoundTrip(client: PingClient, timeoutMs = PING_TIMEOUT_MS): Promise<number | null> {
  return new Promise((resolve) => {
    const t0 = performance.now()
    let timer: ReturnType<typeof setTimeout> | null = null
    const off = client.on('pong', () => done(Math.round(performance.now() - t0)))
    function done(value: number | null): void {
      off()
      if (timer) clearTimeout(timer)
      resolve(value)
    }
    if (!client.sendNow({ type: 'ping' })) return done(null)
    timer = setTimeout(() => done(null), timeoutMs)
  })
}

const isRelay = (c: RTCIceCandidate) => c.type === 'relay' || / typ relay /.test(c.candidate)

/**
 * Gather with the visit's TURN servers only (`relay`): a relay candidate within the timeout means
 * the call can go through TURN from here. `skipped` when the clinic runs no TURN server.
 */
export async function turnCheck(appointmentId: string, timeoutMs = TURN_TIMEOUT_MS): Promise<CheckResult> {
  let servers: RTCIceServer[]
  try {
    const test = await call(api.POST('/api/v1/appointments/{appointment_id}/network-test', {
      params: { path: { appointment_id: appointmentId } },
    }))
    servers = toRtcIceServers(test.ice_servers).filter((s) => [s.urls].flat().some((u) => /^turns?:/.test(u)))
  } catch {
    return 'failed'
  }
  if (!servers.length || typeof RTCPeerConnection === 'undefined') return 'skipped'
  const pc = new RTCPeerConnection({ iceServers: servers, iceTransportPolicy: 'relay' })
  try {
    const found = new Promise<boolean>((resolve) => {
      pc.onicecandidate = (ev) => {
        if (!ev.candidate) resolve(false) // gathering ended without a relay
        else if (isRelay(ev.candidate)) resolve(true)
      }
      setTimeout(() => resolve(false), timeoutMs)
    })
    pc.createDataChannel('network-test')
    await pc.setLocalDescription(await pc.createOffer())
    return (await found) ? 'ok' : 'failed'
  } catch {
    return 'failed'
  } finally {
    pc.onicecandidate = null
    pc.close()
  }
}

/** A rough download speed (kbit/s): 256 KiB from Televisit, timed. Null when it did not arrive. */
export async function downloadKbps(appointmentId: string): Promise<number | null> {
  const t0 = performance.now()
  try {
    const { data, response } = await api.GET('/api/v1/appointments/{appointment_id}/network-test/payload', {
      params: { path: { appointment_id: appointmentId } }, parseAs: 'arrayBuffer',
    })
    if (!response.ok || !data) return null
    return Math.round((data.byteLength * 8) / Math.max(performance.now() - t0, 1)) // bits per ms = kbit/s
  } catch {
    return null
  }
}

/** The whole network test; the TURN, ping and speed parts run side by side (a few seconds at most). */
export async function networkCheck(appointmentId: string, client?: PingClient): Promise<NetworkCheck> {
  const rtt = await restRoundTrip(appointmentId)
  if (rtt === null) return { rtt_ms: null, bitrate_kbps: null, turn: 'skipped', signaling_rtt_ms: null }
  const [turn, signaling, bitrate] = await Promise.all([
    turnCheck(appointmentId),
    client ? signalingRoundTrip(client) : Promise.resolve(null),
    downloadKbps(appointmentId),
  ])
  return { rtt_ms: rtt, bitrate_kbps: bitrate, turn, signaling_rtt_ms: signaling }
}
