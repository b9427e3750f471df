/**
 * TURN credentials are short-lived (about what is left of the room, an hour at most; coturn's
 * REST scheme, username `<unix expiry>:<user id>`). Before they expire, ask the server for fresh
 * ones (`ice.refresh`) and put them on the live peer connection, so that its next gathering (an ICE
 * restart after a network change, a rebuilt connection) can still relay. The media already flowing
 * keeps its relay; only new allocations need valid credentials.
 */
import type { IceServer } from '@/api/frames'
import type { ClientFrame, ServerFrameOf, ServerFrameType } from '@/realtime/signaling'
import { toRtcIceServers } from './peer'

/** The part of the signaling client this needs (tests pass a stand-in). */
export interface IceClient {
  on<T extends ServerFrameType>(type: T, listener: (frame: ServerFrameOf<T>) => void): () => void
  sendNow(frame: ClientFrame): boolean
}

type ServerIce = Pick<IceServer, 'urls' | 'username' | 'credential'>

const RETRY_MS = 5_000

/** When the earliest TURN credential expires (ms since the epoch), or null without any. */
export function turnExpiry(servers: readonly ServerIce[]): number | null {
  const expiries = servers
    .map((s) => /^(\d+):/.exec(s.username ?? '')?.[1])
    .filter((e): e is string => e !== undefined)
    .map((e) => Number(e) * 1000)
  return expiries.length ? Math.min(...expiries) : null
}

/** Refresh with a fifth of the lifetime left, at least 30 s and at most 5 min before expiry. */
export function refreshDelay(expiresAt: number, now: number): number {
  const left = expiresAt - now
  const margin = Math.min(300_000, Math.max(30_000, left / 5))
  return Math.max(0, left - margin)
}

export function applyIceServers(pc: RTCPeerConnection | null, servers: readonly IceServer[]): void {
  if (!pc || pc.connectionState === 'closed') return
  try {
    pc.setConfiguration({ ...pc.getConfiguration(), iceServers: toRtcIceServers(servers) })
  } catch (err) {
    console.warn('ICE servers not applied', err)
  }
}

/**
 * Keep the credentials of the room in `room()` fresh for the connection `pc()` returns; returns a
 * stop function. Starts from each `room.joined` (the first credentials) and each `ice.servers`.
 */
export function watchIceRefresh(
  client: IceClient,
  room: () => string | null,
  pc: () => RTCPeerConnection | null,
  now: () => number = Date.now,
): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null
  const clear = () => {
    if (timer) clearTimeout(timer)
    timer = null
  }
  const ask = (roomId: string) => {
    timer = null
    if (room() !== roomId) return // the call ended or moved on
    // Offline: try again shortly (the reconnect's room.joined also brings fresh ones).
    if (!client.sendNow({ type: 'ice.refresh', room_id: roomId, ref: 'ice.refresh' })) {
      timer = setTimeout(() => ask(roomId), RETRY_MS)
    }
  }
  const fresh = (roomId: string, servers: readonly IceServer[]) => {
    if (roomId !== room()) return
    applyIceServers(pc(), servers)
    clear()
    const expiry = turnExpiry(servers)
    if (expiry !== null) timer = setTimeout(() => ask(roomId), refreshDelay(expiry, now()))
  }
  const offs = [
    client.on('room.joined', (f) => fresh(f.room.id, f.ice_servers)),
    client.on('ice.servers', (f) => fresh(f.room_id, f.ice_servers)),
  ]
  return () => {
    offs.forEach((off) => off())
    clear()
  }
}

/**
 * Ask for fresh credentials now (before an ICE restart) and resolve once they arrived — the
 * `ice.servers` listener of `watchIceRefresh` has put them on the connection by then — or after
 * `timeoutMs`, or at once when the socket is down (false): a restart must not wait on signaling.
 */
export function refreshIceNow(client: IceClient, roomId: string, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    let timer: ReturnType<typeof setTimeout> | null = null
    let off: (() => void) | null = null
    const done = (ok: boolean) => {
      off?.()
      if (timer) clearTimeout(timer)
      resolve(ok)
    }
    off = client.on('ice.servers', (f) => {
      if (f.room_id === roomId) done(true)
    })
    if (!client.sendNow({ type: 'ice.refresh', room_id: roomId, ref: 'ice.refresh' })) return done(false)
    timer = setTimeout(() => done(false), timeoutMs)
  })
}
