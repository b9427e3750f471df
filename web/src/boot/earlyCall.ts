/**
 * A page opened straight into a call (a ringing notification's Answer, a reload during the call):
 * the socket, its sign-in, the `room.join` and the camera start here, from the entry's first
 * module, before the app's code (Vue, the stores, the router, the screens) has even loaded. This
 * module uses no Vue and little code, so it runs some 100 ms before the app's one long evaluation
 * task, in which a socket created there could not open until the task ended (docs/benchmarks.md,
 * "Cold: page load to first frame").
 *
 * The app then adopts what started here: the realtime store takes the socket
 * ({@link takeEarlySocket}), the call store's `answer` takes the join and the camera
 * ({@link takeEarlyCall}). Frames that arrive meanwhile are held by the socket
 * (SignalingClient.hold) and handed out once the app's stores listen (app.ts).
 */
import { loadChoice, openLocalMedia } from '@/calls/media'
import { ENROL_KEY, readStored, SCOPE_KEY, TOKEN_KEY, USER_KEY } from '@/lib/stored'
import { SignalingClient, socketUrl } from '@/realtime/signaling'

/** The `ref` of our `room.join`: an `error` carrying it is about joining the call. */
export const JOIN_REF = 'room.join'

/** What started early: the visit, its room, and the camera and microphone being opened. */
export interface EarlyCall {
  appointmentId: string
  room: string
  media: Promise<MediaStream>
}

let socket: SignalingClient | null = null
/** The early call's own socket (kept when the realtime store has taken it), for its `room.leave`. */
let callSocket: SignalingClient | null = null
let early: EarlyCall | null = null
let stopRejoin: (() => void) | null = null

/**
 * The visit and room of a call address that the router would let in (router.ts `entryFor`, kept
 * in step with it): signed in, not limited to two-factor enrolment, and a visit link's session only
 * for its own visit. Null for any other address or session.
 */
export function callAddress(loc: Pick<Location, 'pathname' | 'search'> = window.location): { appointmentId: string; room: string } | null {
  const match = /^\/visits\/([^/]+)\/call\/?$/.exec(loc.pathname)
  const room = new URLSearchParams(loc.search).get('room')
  if (!match || !room) return null
  let appointmentId: string
  try {
    appointmentId = decodeURIComponent(match[1])
  } catch {
    return null
  }
  if (!readStored<string>(TOKEN_KEY) || !readStored<object>(USER_KEY)) return null
  if (readStored<boolean>(ENROL_KEY)) return null
  const scope = readStored<{ appointmentId?: string }>(SCOPE_KEY)
  if (scope && scope.appointmentId !== appointmentId) return null
  return { appointmentId, room }
}

/** Start the call now if this page is a call address the app would answer (see the module's comment). */
export function startEarlyCall(loc: Pick<Location, 'pathname' | 'search'> = window.location): boolean {
  const address = callAddress(loc)
  if (!address) return false
  const client = new SignalingClient({ url: socketUrl(), getToken: () => readStored<string>(TOKEN_KEY) })
  client.hold()
  client.start()
  const join = { type: 'room.join', room_id: address.room, ref: JOIN_REF } as const
  client.sendWithAuth(join)
  // Until the call store takes over, a reconnect takes our place in the room again.
  stopRejoin = client.onResume((reconnected) => {
    if (reconnected) client.sendNow(join)
  })
  const media = openLocalMedia(loadChoice())
  media.catch(() => {}) // the call store reads the failure when it takes the call
  socket = callSocket = client
  early = { ...address, media }
  return true
}

/**
 * Resolves once the early socket has sent its `auth` and `room.join` (at once when there is none),
 * or after `capMs` whatever happened. The entry waits for it before evaluating the app: a socket
 * whose open event falls inside the app's long evaluation task waits for its end to send anything.
 */
export function earlyJoinSent(capMs: number): Promise<void> {
  if (!socket) return Promise.resolve()
  const sent = socket.authSent()
  return Promise.race([sent, new Promise<void>((resolve) => setTimeout(resolve, capMs))])
}

/** The socket started here, if any, handed out once: the realtime store uses it as its own. */
export function takeEarlySocket(): SignalingClient | null {
  const taken = socket
  socket = null
  return taken
}

/**
 * The early call for this visit and room, handed out once: its join has gone out (or is queued on
 * the socket), and its camera is being opened. Null when none started here, or for another call.
 */
export function takeEarlyCall(appointmentId: string, room: string): EarlyCall | null {
  const call = early
  if (!call || call.appointmentId !== appointmentId || call.room !== room) return null
  early = null
  callSocket = null
  stopRejoin?.()
  stopRejoin = null
  return call
}

/** The app did not take the early call (it went elsewhere): leave the room, close the camera. */
export function dropEarlyCall(): void {
  const call = early
  if (!call) return
  early = null
  stopRejoin?.()
  stopRejoin = null
  callSocket?.send({ type: 'room.leave', room_id: call.room })
  callSocket = null
  call.media.then((stream) => stream.getTracks().forEach((t) => t.stop()), () => {})
}
