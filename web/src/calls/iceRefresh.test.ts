import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { ClientFrame, ServerFrameOf, ServerFrameType } from '@/realtime/signaling'
import { refreshDelay, refreshIceNow, turnExpiry, watchIceRefresh, type IceClient } from './iceRefresh'
import { toRtcIceServers } from './peer'

type Loose = { type: string } & Record<string, unknown>

const T0 = 1_900_000_000_000 // ms
const turn = (expirySec: number) => ({ urls: ['turn:turn.example:3478'], username: `${expirySec}:u-1`, credential: 'c' })
const stun = { urls: ['stun:stun.example:3478'], username: null, credential: null }

class FakeClient implements IceClient {
  sent: ClientFrame[] = []
  ready = true
  private listeners = new Map<string, ((f: Loose) => void)[]>()
  on<T extends ServerFrameType>(type: T, listener: (frame: ServerFrameOf<T>) => void): () => void {
    const loose = listener as unknown as (f: Loose) => void // the test emits partial frames
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), loose])
    return () => this.listeners.set(type, (this.listeners.get(type) ?? []).filter((l) => l !== loose))
  }
  sendNow(frame: ClientFrame): boolean {
    if (this.ready) this.sent.push(frame)
    return this.ready
  }
  emit(frame: Loose): void {
    for (const l of this.listeners.get(frame.type) ?? []) l(frame)
  }
}

function fakePc() {
  let config: RTCConfiguration = { iceServers: [], bundlePolicy: 'max-bundle' }
  return {
    connectionState: 'connected',
    getConfiguration: () => config,
    setConfiguration: (c: RTCConfiguration) => { config = c },
  } as unknown as RTCPeerConnection
}

describe('credential expiry', () => {
  it('is read from the coturn username, the earliest one wins, STUN has none', () => {
    expect(turnExpiry([stun, turn(1_900_000_600), turn(1_900_000_300)])).toBe(1_900_000_300_000)
    expect(turnExpiry([stun])).toBeNull()
  })

  it('refreshes a fifth of the lifetime early, between 30 s and 5 min', () => {
    expect(refreshDelay(T0 + 3_600_000, T0)).toBe(3_300_000)
    expect(refreshDelay(T0 + 600_000, T0)).toBe(480_000)
    expect(refreshDelay(T0 + 60_000, T0)).toBe(30_000)
    expect(refreshDelay(T0 - 1, T0)).toBe(0)
  })

  it('drops null usernames for the browser', () => {
    expect(toRtcIceServers([stun, turn(5)])).toEqual([{ urls: stun.urls }, { urls: ['turn:turn.example:3478'], username: '5:u-1', credential: 'c' }])
  })
})

describe('watchIceRefresh', () => {
  beforeEach(() => vi.useFakeTimers({ now: T0 }))
  afterEach(() => vi.useRealTimers())

  it('asks before expiry and applies the answer to the live connection', () => {
    const client = new FakeClient()
    const pc = fakePc()
    let room: string | null = 'r1'
    const stop = watchIceRefresh(client, () => room, () => pc)
    client.emit({ type: 'room.joined', room: { id: 'r1' }, ice_servers: [stun, turn(T0 / 1000 + 600)] })
    vi.advanceTimersByTime(479_000)
    expect(client.sent).toEqual([])
    vi.advanceTimersByTime(1_000)
    expect(client.sent).toEqual([{ type: 'ice.refresh', room_id: 'r1', ref: 'ice.refresh' }])

    client.emit({ type: 'ice.servers', room_id: 'r1', ice_servers: [stun, turn(T0 / 1000 + 1080)] })
    const applied = pc.getConfiguration()
    expect(applied.bundlePolicy).toBe('max-bundle') // the rest of the configuration is kept
    expect(applied.iceServers?.[1]).toMatchObject({ username: `${T0 / 1000 + 1080}:u-1` })
    vi.advanceTimersByTime(480_000) // the next one is scheduled from the fresh expiry
    expect(client.sent).toHaveLength(2)

    room = null // the call ended: nothing more is asked
    vi.advanceTimersByTime(3_600_000)
    expect(client.sent).toHaveLength(2)
    stop()
  })

  it('retries while offline, and ignores other rooms', () => {
    const client = new FakeClient()
    const stop = watchIceRefresh(client, () => 'r1', () => null)
    client.emit({ type: 'ice.servers', room_id: 'other', ice_servers: [turn(T0 / 1000 + 60)] })
    vi.advanceTimersByTime(3_600_000)
    expect(client.sent).toEqual([])
    client.ready = false
    client.emit({ type: 'room.joined', room: { id: 'r1' }, ice_servers: [turn(T0 / 1000 + 60)] })
    vi.advanceTimersByTime(30_000)
    expect(client.sent).toEqual([])
    client.ready = true
    vi.advanceTimersByTime(5_000)
    expect(client.sent).toHaveLength(1)
    stop()
  })
})

describe('refreshIceNow', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('asks and resolves when the fresh servers of that room arrive', async () => {
    const client = new FakeClient()
    const done = refreshIceNow(client, 'r-1')
    expect(client.sent).toEqual([{ type: 'ice.refresh', room_id: 'r-1', ref: 'ice.refresh' }])
    client.emit({ type: 'ice.servers', room_id: 'r-2', ice_servers: [] })
    client.emit({ type: 'ice.servers', room_id: 'r-1', ice_servers: [turn(T0 / 1000 + 3600)] })
    await expect(done).resolves.toBe(true)
  })

  it('gives up after the timeout, or at once when offline', async () => {
    const client = new FakeClient()
    const late = refreshIceNow(client, 'r-1', 2_000)
    vi.advanceTimersByTime(2_000)
    await expect(late).resolves.toBe(false)
    client.ready = false
    await expect(refreshIceNow(client, 'r-1')).resolves.toBe(false)
  })
})
