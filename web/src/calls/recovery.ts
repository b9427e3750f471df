/**
 * When a live call's connection breaks (a network change, the TURN server restarting), restart ICE
 * without waiting for Chromium's `failed` (10 s after `disconnected`), and keep trying with a
 * backoff while it stays down: a restart made while the relay is unreachable gathers nothing, and
 * the next one must find it back. docs/web.md, "Recovery", gives the timings and why.
 */

/** `disconnected` often heals by itself within a second or two (a Wi-Fi hiccup): wait this long first. */
export const DISCONNECTED_GRACE_MS = 3_000
/** Between restarts while the connection stays down; the last delay repeats. */
export const RETRY_DELAYS_MS: readonly number[] = [2_000, 4_000, 8_000]

export type Health = 'up' | 'down' | 'failed' | 'pending' | 'closed'

/** One word for the two states a peer connection reports. */
export function health(connection: RTCPeerConnectionState, ice: RTCIceConnectionState): Health {
  if (connection === 'closed' || ice === 'closed') return 'closed'
  if (connection === 'failed' || ice === 'failed') return 'failed'
  if (connection === 'disconnected' || ice === 'disconnected') return 'down'
  if (connection === 'connected') return 'up'
  return 'pending'
}

/** How long to wait after restart number `attempt` (1, 2, …) before the next one. */
export function retryDelay(attempt: number, delays: readonly number[] = RETRY_DELAYS_MS): number {
  return delays[Math.min(Math.max(attempt, 1), delays.length) - 1]
}

export interface RecoveryTimers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

const realTimers: RecoveryTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}

/**
 * Feed it every state change of one connection; it calls `restart(attempt)` after the grace period
 * of `disconnected` (at once on `failed`), then again after each retry delay until the connection
 * is `connected` again.
 */
export class IceRecovery {
  /** Restarts made since the connection was last up. */
  attempt = 0
  private timer: unknown = null
  private waitingGrace = false

  constructor(
    private readonly restart: (attempt: number) => void,
    private readonly timers: RecoveryTimers = realTimers,
    private readonly graceMs = DISCONNECTED_GRACE_MS,
    private readonly delays: readonly number[] = RETRY_DELAYS_MS,
  ) {}

  get recovering(): boolean {
    return this.timer !== null || this.attempt > 0
  }

  update(state: Health): void {
    if (state === 'closed') return this.reset()
    if (state === 'up') return this.reset()
    if (state === 'failed' && this.waitingGrace) this.clear() // no point waiting out the grace
    if (this.timer !== null) return // a restart (or the next retry) is already due
    if (state === 'failed') this.schedule(0)
    else if (state === 'down') {
      this.waitingGrace = this.attempt === 0
      this.schedule(this.attempt === 0 ? this.graceMs : retryDelay(this.attempt, this.delays))
    }
    // `pending` (new, checking, connecting) with nothing due: a first connection, watched elsewhere.
  }

  /** Forget the outage: the connection is up again, closed or replaced. */
  reset(): void {
    this.clear()
    this.attempt = 0
  }

  private schedule(ms: number): void {
    this.timer = this.timers.setTimeout(() => this.fire(), ms)
  }

  private fire(): void {
    this.timer = null
    this.waitingGrace = false
    this.attempt += 1
    this.schedule(retryDelay(this.attempt, this.delays)) // cleared when the connection is up
    this.restart(this.attempt)
  }

  private clear(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer)
    this.timer = null
    this.waitingGrace = false
  }
}
