/**
 * The WebSocket to /api/v1/ws as an explicit state machine that reconnects by itself.
 *
 * idle → connecting → authenticating → ready; any close → reconnecting (backoff) → connecting;
 * stop() or a refused token → closed. After every `ready` the listeners resume (rejoin the room,
 * chat.sync) before frames queued while offline are flushed, so nothing goes out of order.
 * Frames are typed from asyncapi.json (src/api/frames.d.ts): `send` takes a ClientFrame, and a
 * listener for one `type` gets that frame's type (`on('chat.message', (f) => f.message)`).
 */
import type { ClientFrame, ServerFrame, ServerFrameOf, ServerFrameType, SessionEnded } from '@/api/frames'

export type { ClientFrame, ServerFrame, ServerFrameOf, ServerFrameType }

export type ConnectionState = 'idle' | 'connecting' | 'authenticating' | 'ready' | 'reconnecting' | 'closed'

/** The part of the browser WebSocket this client uses (so tests can drive it). */
export interface SocketLike {
  readyState: number
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code: number; reason?: string }) => void) | null
  onerror: ((ev: unknown) => void) | null
  send(data: string): void
  close(code?: number, reason?: string): void
}

export interface SignalingOptions {
  url: string
  getToken: () => string | null
  createSocket?: (url: string) => SocketLike
  /** Delays (ms) before reconnect attempts; the last one repeats. */
  backoff?: number[]
  /** How long (ms) without any frame before the socket is presumed dead (network change). */
  idleTimeout?: number
  pingInterval?: number
}

const TRANSITIONS: Record<ConnectionState, ConnectionState[]> = {
  idle: ['connecting', 'closed'],
  connecting: ['authenticating', 'reconnecting', 'closed'],
  authenticating: ['ready', 'reconnecting', 'closed'],
  ready: ['reconnecting', 'closed'],
  reconnecting: ['connecting', 'closed'],
  closed: ['connecting'],
}

export const DEFAULT_BACKOFF = [200, 500, 1000, 2000, 4000]
const MAX_QUEUE = 200
const AUTH_REFUSED = 4401
const ORIGIN_REFUSED = 4403
const SERVER_RESTART = 1012

type Listener = (frame: ServerFrame) => void

/**
 * Whether parsed JSON is a frame. Only its `type` is checked: the server sends what asyncapi.json
 * says (its tests hold it to that), and the `type` is what picks the listeners.
 */
function isFrame(value: unknown): value is ServerFrame {
  return typeof value === 'object' && value !== null && 'type' in value && typeof value.type === 'string'
}

function isOfType<T extends ServerFrameType>(frame: ServerFrame, type: T): frame is ServerFrameOf<T> {
  return frame.type === type
}

const encode = (frame: ClientFrame): string => JSON.stringify(frame)

export class SignalingClient {
  state: ConnectionState = 'idle'
  /** Set when the server refused us for good (bad token, origin): the UI shows it. */
  fatal: string | null = null
  private socket: SocketLike | null = null
  private attempt = 0
  private everReady = false
  private queue: string[] = []
  private listeners = new Map<ServerFrameType, Set<Listener>>()
  private stateListeners = new Set<(s: ConnectionState) => void>()
  private resumeHooks = new Set<(reconnected: boolean) => void>()
  private retryTimer: ReturnType<typeof setTimeout> | null = null
  private pingTimer: ReturnType<typeof setInterval> | null = null
  private lastFrameAt = 0
  /** Frames received while held (see `hold`), or null when they go to the listeners at once. */
  private held: ServerFrame[] | null = null
  /** Frames that go out right behind `auth`, until the first `ready` (see `sendWithAuth`). */
  private withAuth: string[] = []
  private openWaiters: (() => void)[] = []
  private getToken: () => string | null
  private readonly backoff: number[]
  private readonly idleTimeout: number
  private readonly pingInterval: number
  private readonly createSocket: (url: string) => SocketLike

  constructor(private readonly options: SignalingOptions) {
    this.backoff = options.backoff ?? DEFAULT_BACKOFF
    this.idleTimeout = options.idleTimeout ?? 45_000
    this.pingInterval = options.pingInterval ?? 15_000
    this.createSocket = options.createSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike)
    this.getToken = options.getToken
  }

  /** Where the token comes from from now on (the app's session store takes over an early socket). */
  setTokenSource(getToken: () => string | null): void {
    this.getToken = getToken
  }

  /**
   * Keep received frames instead of handing them to the listeners, until `release`: a socket
   * started before the app (boot/earlyCall.ts) holds what arrives until the app's stores listen.
   * The connection itself goes on meanwhile (`ready`, queued frames going out, pings).
   */
  hold(): void {
    this.held ??= []
  }

  /**
   * Send `frame` right behind the `auth` frame, without waiting for `ready`: the server reads a
   * socket's frames in order and takes the next one once `auth` has passed (one round trip and one
   * main-thread task fewer, on a page that is busy loading). Until the first `ready` it goes out
   * behind every `auth` (a connection lost before `ready` carries it again on the next one).
   */
  sendWithAuth(frame: ClientFrame): void {
    const text = encode(frame)
    this.withAuth.push(text)
    if (this.state === 'authenticating' && this.socket) this.socket.send(text)
    else if (this.state === 'ready' && this.socket) {
      this.withAuth = []
      this.socket.send(text)
    }
  }

  /** Resolves once a socket has opened and `auth` has gone out (or the client stopped for good). */
  authSent(): Promise<void> {
    if (this.state === 'authenticating' || this.state === 'ready' || this.state === 'closed') return Promise.resolve()
    return new Promise((resolve) => this.openWaiters.push(resolve))
  }

  /** Hand the held frames to the listeners, in their order, and stop holding. */
  release(): void {
    const frames = this.held
    this.held = null
    for (const frame of frames ?? []) this.emit(frame)
  }

  start(): void {
    if (this.state === 'idle' || this.state === 'closed') {
      this.fatal = null
      this.open()
    }
  }

  stop(): void {
    this.clearTimers()
    this.queue = []
    this.withAuth = []
    if (this.state !== 'closed') this.transition('closed')
    this.openedNow()
    const socket = this.socket
    this.socket = null
    if (socket) {
      socket.onclose = null
      socket.close(1000, 'bye')
    }
  }

  /** Send now when ready; otherwise keep the frame for after the next `ready` (bounded). */
  send(frame: ClientFrame): void {
    const text = encode(frame)
    if (this.state === 'ready' && this.socket) {
      this.socket.send(text)
      return
    }
    if (this.state === 'closed' && this.fatal) return
    this.queue.push(text)
    if (this.queue.length > MAX_QUEUE) this.queue.shift()
  }

  /** Send only if the connection is ready right now (signals are useless later). */
  sendNow(frame: ClientFrame): boolean {
    if (this.state !== 'ready' || !this.socket) return false
    this.socket.send(encode(frame))
    return true
  }

  /** Listen to the frames of one `type`; returns the function that stops listening. */
  on<T extends ServerFrameType>(type: T, listener: (frame: ServerFrameOf<T>) => void): () => void {
    const relay: Listener = (frame) => {
      if (isOfType(frame, type)) listener(frame)
    }
    let set = this.listeners.get(type)
    if (!set) this.listeners.set(type, (set = new Set()))
    set.add(relay)
    return () => set.delete(relay)
  }

  onState(listener: (s: ConnectionState) => void): () => void {
    this.stateListeners.add(listener)
    return () => this.stateListeners.delete(listener)
  }

  /** Called after each `ready`, before queued frames go out; `reconnected` is false the first time. */
  onResume(hook: (reconnected: boolean) => void): () => void {
    this.resumeHooks.add(hook)
    return () => this.resumeHooks.delete(hook)
  }

  /** The network came back (browser `online` event): skip the remaining backoff. */
  nudge(): void {
    if (this.state === 'reconnecting') {
      this.clearRetry()
      this.open()
    }
  }

  /** Timers call this; exposed so tests can advance time deterministically. */
  checkAlive(now = Date.now()): void {
    if (this.state !== 'ready' || !this.socket) return
    if (now - this.lastFrameAt > this.idleTimeout) {
      this.dropSocket()
      this.scheduleReconnect(0)
      return
    }
    this.socket.send(encode({ type: 'ping' }))
  }

  private transition(next: ConnectionState): void {
    if (!TRANSITIONS[this.state].includes(next)) {
      throw new Error(`signaling: ${this.state} → ${next} is not allowed`)
    }
    this.state = next
    for (const listener of this.stateListeners) listener(next)
  }

  private open(): void {
    this.transition('connecting')
    let socket: SocketLike
    try {
      socket = this.createSocket(this.options.url)
    } catch {
      this.scheduleReconnect()
      return
    }
    this.socket = socket
    socket.onopen = () => this.authenticate(socket)
    socket.onmessage = (ev) => this.receive(socket, ev.data)
    socket.onclose = (ev) => this.closed(socket, ev.code)
    socket.onerror = () => {}
  }

  private authenticate(socket: SocketLike): void {
    if (socket !== this.socket) return
    const token = this.getToken()
    if (!token) {
      this.fail('You are signed out.')
      return
    }
    this.transition('authenticating')
    socket.send(encode({ type: 'auth', token }))
    for (const text of this.withAuth) socket.send(text)
    this.openedNow()
  }

  private openedNow(): void {
    const waiters = this.openWaiters
    this.openWaiters = []
    for (const resolve of waiters) resolve()
  }

  private receive(socket: SocketLike, data: unknown): void {
    if (socket !== this.socket || typeof data !== 'string') return
    let frame: unknown
    try {
      frame = JSON.parse(data)
    } catch {
      return
    }
    if (!isFrame(frame)) return
    this.lastFrameAt = Date.now()
    if (frame.type === 'ready' && this.state === 'authenticating') this.becomeReady()
    if (frame.type === 'server.draining') {
      // This instance is stopping: move now, the next one is up already.
      this.emit(frame)
      this.dropSocket()
      this.scheduleReconnect(0)
      return
    }
    this.emit(frame)
  }

  private becomeReady(): void {
    const reconnected = this.everReady
    this.everReady = true
    this.attempt = 0
    this.withAuth = [] // they went out behind this connection's auth
    this.transition('ready')
    for (const hook of this.resumeHooks) hook(reconnected)
    const queued = this.queue
    this.queue = []
    for (const text of queued) this.socket?.send(text)
    this.startPing()
  }

  private closed(socket: SocketLike, code: number): void {
    if (socket !== this.socket) return
    this.socket = null
    this.stopPing()
    if (code === AUTH_REFUSED) {
      // The token was refused (the server says why in its own `session.ended` when it revokes a
      // session; a token refused at `auth` is most often an expired one).
      this.fail('Your session has ended. Please sign in again.', { type: 'session.ended', reason: 'expired' })
      return
    }
    if (code === ORIGIN_REFUSED) {
      this.fail('This page may not connect to Televisit from here.')
      return
    }
    if (this.state === 'closed') return
    this.scheduleReconnect(code === SERVER_RESTART ? 0 : undefined)
  }

  private fail(message: string, ended: SessionEnded | null = null): void {
    this.fatal = message
    this.clearTimers()
    this.queue = []
    if (this.state !== 'closed') this.transition('closed')
    this.openedNow()
    if (ended) this.emit(ended)
  }

  private scheduleReconnect(delay?: number): void {
    if (this.state === 'closed') return
    if (this.state !== 'reconnecting') this.transition('reconnecting')
    const wait = delay ?? this.backoff[Math.min(this.attempt, this.backoff.length - 1)]
    this.attempt += 1
    this.clearRetry()
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null
      if (this.state === 'reconnecting') this.open()
    }, wait)
  }

  private dropSocket(): void {
    const socket = this.socket
    this.socket = null
    this.stopPing()
    if (socket) {
      socket.onclose = null
      socket.onmessage = null
      try {
        socket.close(1000, 'reconnecting')
      } catch {
        /* already closed */
      }
    }
  }

  private emit(frame: ServerFrame): void {
    if (this.held) {
      this.held.push(frame)
      return
    }
    for (const listener of this.listeners.get(frame.type) ?? []) listener(frame)
  }

  private startPing(): void {
    this.stopPing()
    this.pingTimer = setInterval(() => this.checkAlive(), this.pingInterval)
  }

  private stopPing(): void {
    if (this.pingTimer) clearInterval(this.pingTimer)
    this.pingTimer = null
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryTimer = null
  }

  private clearTimers(): void {
    this.clearRetry()
    this.stopPing()
  }
}

export function socketUrl(loc: Location = window.location): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/api/v1/ws`
}
