import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { DISCONNECTED_GRACE_MS, health, IceRecovery, retryDelay } from './recovery'

describe('health', () => {
  it('reads the two states of a peer connection as one', () => {
    expect(health('connected', 'connected')).toBe('up')
    expect(health('connected', 'disconnected')).toBe('down')
    expect(health('disconnected', 'disconnected')).toBe('down')
    expect(health('failed', 'disconnected')).toBe('failed')
    expect(health('connecting', 'checking')).toBe('pending')
    expect(health('new', 'new')).toBe('pending')
    expect(health('closed', 'closed')).toBe('closed')
  })
})

describe('retry delays', () => {
  it('back off to 8 s and stay there', () => {
    expect([1, 2, 3, 4, 10].map((n) => retryDelay(n))).toEqual([2_000, 4_000, 8_000, 8_000, 8_000])
  })
})

describe('IceRecovery', () => {
  let restarts: number[]
  let recovery: IceRecovery
  beforeEach(() => {
    vi.useFakeTimers()
    restarts = []
    recovery = new IceRecovery((attempt) => restarts.push(attempt))
  })
  afterEach(() => vi.useRealTimers())

  it('waits out a short disconnection without restarting', () => {
    recovery.update('down')
    vi.advanceTimersByTime(DISCONNECTED_GRACE_MS - 1)
    recovery.update('up')
    vi.advanceTimersByTime(60_000)
    expect(restarts).toEqual([])
  })

  it('restarts after the grace period, then retries with backoff while down', () => {
    recovery.update('down')
    vi.advanceTimersByTime(DISCONNECTED_GRACE_MS)
    expect(restarts).toEqual([1])
    recovery.update('failed') // the browser gives up meanwhile: the retry already due stands
    vi.advanceTimersByTime(2_000)
    expect(restarts).toEqual([1, 2])
    vi.advanceTimersByTime(4_000)
    expect(restarts).toEqual([1, 2, 3])
    vi.advanceTimersByTime(8_000 * 2)
    expect(restarts).toEqual([1, 2, 3, 4, 5])
    recovery.update('pending') // checking after a restart: keep the schedule
    recovery.update('up')
    vi.advanceTimersByTime(60_000)
    expect(restarts).toEqual([1, 2, 3, 4, 5])
    expect(recovery.recovering).toBe(false)
  })

  it('restarts at once on failed, even during the grace period', () => {
    recovery.update('down')
    vi.advanceTimersByTime(1_000)
    recovery.update('failed')
    vi.advanceTimersByTime(0)
    expect(restarts).toEqual([1])
  })

  it('starts over from the grace period after the connection was up again', () => {
    recovery.update('failed')
    vi.advanceTimersByTime(0)
    recovery.update('up')
    recovery.update('down')
    vi.advanceTimersByTime(DISCONNECTED_GRACE_MS)
    expect(restarts).toEqual([1, 1])
  })

  it('does nothing for a first connection, and stops when closed', () => {
    recovery.update('pending')
    vi.advanceTimersByTime(60_000)
    recovery.update('down')
    recovery.update('closed')
    vi.advanceTimersByTime(60_000)
    expect(restarts).toEqual([])
  })
})
