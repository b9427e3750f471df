import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { ClientFrame, ServerFrameOf, ServerFrameType } from '@/realtime/signaling'
import { signalingRoundTrip, type PingClient } from './precall'

class FakeClient implements PingClient {
  sent: ClientFrame[] = []
  ready = true
  listeners: (() => void)[] = []
  on<T extends ServerFrameType>(_type: T, listener: (frame: ServerFrameOf<T>) => void): () => void {
    const call = () => listener({ type: 'pong' } as unknown as ServerFrameOf<T>)
    this.listeners.push(call)
    return () => (this.listeners = this.listeners.filter((l) => l !== call))
  }
  sendNow(frame: ClientFrame): boolean {
    if (this.ready) this.sent.push(frame)
    return this.ready
  }
}

describe('signalingRoundTrip', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('times a ping until its pong, and stops listening', async () => {
    const client = new FakeClient()
    const rtt = signalingRoundTrip(client)
    expect(client.sent).toEqual([{ type: 'ping' }])
    vi.advanceTimersByTime(40)
    client.listeners.forEach((l) => l())
    expect(await rtt).toBeGreaterThanOrEqual(0)
    expect(client.listeners).toEqual([])
  })

  it('is null when the socket is down or no pong comes', async () => {
    const client = new FakeClient()
    const silent = signalingRoundTrip(client, 3_000)
    vi.advanceTimersByTime(3_000)
    expect(await silent).toBeNull()
    client.ready = false
    expect(await signalingRoundTrip(client)).toBeNull()
    expect(client.listeners).toEqual([])
  })
})
