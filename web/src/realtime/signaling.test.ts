import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest'
import type { ChatMessage, ServerFrame, ServerFrameMap, ServerFrameType } from '@/api/frames'
import { latest, ScriptedSocket } from '@/testing/scriptedSocket'
import { SignalingClient } from './signaling'


function makeClient(token: string | null = 'tok') {
  const states: string[] = []
  const client = new SignalingClient({
    url: 'ws://x/api/v1/ws',
    getToken: () => token,
    createSocket: (url) => new ScriptedSocket(url),
    backoff: [200, 500, 1000],
  })
  client.onState((s) => states.push(s))
  return { client, states }
}

function connectReady(client: SignalingClient): ScriptedSocket {
  client.start()
  const socket = latest()
  socket.open()
  socket.frame({ type: 'ready', user_id: 'u1', connection_id: 'c1' })
  return socket
}

beforeEach(() => {
  ScriptedSocket.all = []
  vi.useFakeTimers()
})
afterEach(() => vi.useRealTimers())

describe('SignalingClient', () => {
  it('authenticates with the first frame and becomes ready only on `ready`', () => {
    const { client, states } = makeClient()
    client.start()
    const socket = latest()
    expect(socket.url).toBe('ws://x/api/v1/ws')
    expect(socket.url).not.toContain('tok') // never a token in the URL
    socket.open()
    expect(socket.sent).toEqual([{ type: 'auth', token: 'tok' }])
    expect(client.state).toBe('authenticating')
    socket.frame({ type: 'ready', user_id: 'u1' })
    expect(states).toEqual(['connecting', 'authenticating', 'ready'])
  })

  it('queues frames until ready and sends them after the resume hooks', () => {
    const { client } = makeClient()
    const order: string[] = []
    client.onResume(() => order.push('resume'))
    client.send({ type: 'chat.send', appointment_id: 'a1', client_msg_id: 'm1', body: 'queued' })
    expect(client.sendNow({ type: 'signal', room_id: 'r1', data: {} })).toBe(false) // signals are not queued
    const socket = connectReady(client)
    expect(order).toEqual(['resume'])
    expect(socket.types()).toEqual(['auth', 'chat.send'])
  })

  it('reconnects with backoff, re-authenticates and tells resume hooks it was a reconnect', () => {
    const { client, states } = makeClient()
    const resumed: boolean[] = []
    client.onResume((again) => resumed.push(again))
    connectReady(client)
    latest().drop(1006)
    expect(client.state).toBe('reconnecting')
    vi.advanceTimersByTime(199)
    expect(ScriptedSocket.all).toHaveLength(1)
    vi.advanceTimersByTime(1)
    expect(ScriptedSocket.all).toHaveLength(2)
    latest().drop(1006) // still down: the next delay is longer
    vi.advanceTimersByTime(499)
    expect(ScriptedSocket.all).toHaveLength(2)
    vi.advanceTimersByTime(1)
    const socket = latest()
    socket.open()
    expect(socket.sent[0]).toEqual({ type: 'auth', token: 'tok' })
    socket.frame({ type: 'ready' })
    expect(resumed).toEqual([false, true])
    expect(states.filter((s) => s === 'ready')).toHaveLength(2)
    // after a success the backoff starts over
    socket.drop(1006)
    vi.advanceTimersByTime(200)
    expect(ScriptedSocket.all).toHaveLength(4)
  })

  it('moves at once on server.draining and on close 1012', () => {
    const { client } = makeClient()
    const first = connectReady(client)
    first.frame({ type: 'server.draining' })
    expect(first.closedWith).toBe(1000)
    vi.advanceTimersByTime(0)
    expect(ScriptedSocket.all).toHaveLength(2)
    const second = latest()
    second.open()
    second.frame({ type: 'ready' })
    second.drop(1012)
    vi.advanceTimersByTime(0)
    expect(ScriptedSocket.all).toHaveLength(3)
  })

  it('stops for good when the token is refused (4401) and reports the session ended', () => {
    const { client } = makeClient()
    const ended = vi.fn()
    client.on('session.ended', ended)
    connectReady(client)
    latest().drop(4401)
    expect(client.state).toBe('closed')
    expect(client.fatal).toMatch(/sign in again/)
    expect(ended).toHaveBeenCalledOnce()
    vi.advanceTimersByTime(10_000)
    expect(ScriptedSocket.all).toHaveLength(1)
  })

  it('does not reconnect after stop()', () => {
    const { client } = makeClient()
    const socket = connectReady(client)
    client.stop()
    expect(socket.closedWith).toBe(1000)
    vi.advanceTimersByTime(10_000)
    expect(ScriptedSocket.all).toHaveLength(1)
    expect(client.state).toBe('closed')
  })

  it('treats a silent socket as dead (network change) and reconnects', () => {
    const { client } = makeClient()
    const socket = connectReady(client)
    const t0 = Date.now()
    client.checkAlive(t0 + 1_000)
    expect(socket.types()).toContain('ping')
    client.checkAlive(t0 + 60_000)
    expect(client.state).toBe('reconnecting')
    vi.advanceTimersByTime(0)
    expect(ScriptedSocket.all).toHaveLength(2)
  })

  it('skips the rest of the backoff when the browser comes back online', () => {
    const { client } = makeClient()
    connectReady(client)
    latest().drop(1006)
    vi.advanceTimersByTime(200)
    latest().drop(1006)
    client.nudge()
    expect(ScriptedSocket.all).toHaveLength(3)
  })

  it('delivers frames to listeners by type and ignores garbage', () => {
    const { client } = makeClient()
    const socket = connectReady(client)
    const got = vi.fn()
    const off = client.on('chat.message', got)
    socket.onmessage?.({ data: 'not json' })
    socket.onmessage?.({ data: JSON.stringify({ no: 'type' }) })
    socket.frame({ type: 'chat.message', message: { seq: 1 } })
    expect(got).toHaveBeenCalledOnce()
    off()
    socket.frame({ type: 'chat.message', message: { seq: 2 } })
    expect(got).toHaveBeenCalledOnce()
  })

  it('gives each listener the frame of its type, as asyncapi.json describes it (checked by vue-tsc)', () => {
    const { client } = makeClient()
    const socket = connectReady(client)
    const seqs: number[] = []
    client.on('chat.message', (frame) => {
      expectTypeOf(frame).toEqualTypeOf<ChatMessage>()
      seqs.push(frame.message.seq)
    })
    client.on('room.ended', (frame) => seqs.push(frame.reason === 'ended' ? -1 : -2))
    socket.frame({ type: 'chat.message', message: { seq: 7 } })
    expect(seqs).toEqual([7])
    // The map from `type` to frame covers the union exactly.
    expectTypeOf<ServerFrameMap[ServerFrameType]>().toEqualTypeOf<ServerFrame>()
    // @ts-expect-error: not a frame the server sends
    client.on('chat.send', () => {})
    // @ts-expect-error: a client frame needs its fields
    client.send({ type: 'room.join' })
  })

  it('ignores events from a socket it has already given up on', () => {
    const { client } = makeClient()
    const socket = connectReady(client)
    // A stale socket's events are ignored rather than breaking the machine.
    latest().drop(1006)
    socket.frame({ type: 'ready' })
    expect(client.state).toBe('reconnecting')
  })

  it('sends a frame right behind auth until the first ready, again after a connection lost before it', () => {
    const { client } = makeClient()
    client.start()
    client.sendWithAuth({ type: 'room.join', room_id: 'r1', ref: 'room.join' })
    let socket = latest()
    let opened = false
    void client.authSent().then(() => (opened = true))
    socket.open()
    expect(socket.types()).toEqual(['auth', 'room.join'])
    socket.drop(1006) // lost before ready: the join goes again behind the next auth
    vi.advanceTimersByTime(200)
    socket = latest()
    socket.open()
    socket.frame({ type: 'ready', user_id: 'u1' })
    expect(socket.types()).toEqual(['auth', 'room.join'])
    socket.drop(1006) // after ready: it went through, it is not sent again
    vi.advanceTimersByTime(200)
    latest().open()
    expect(latest().types()).toEqual(['auth'])
    return Promise.resolve().then(() => expect(opened).toBe(true))
  })

  it('holds received frames until release, then hands them out in order', () => {
    const { client } = makeClient()
    client.hold()
    const socket = connectReady(client)
    const seen: string[] = []
    socket.frame({ type: 'room.joined', room: { id: 'r1' } })
    socket.frame({ type: 'signal', room_id: 'r1', data: {} })
    expect(client.state).toBe('ready') // the connection goes on while held
    client.on('room.joined', () => seen.push('room.joined'))
    client.on('signal', () => seen.push('signal'))
    expect(seen).toEqual([])
    client.release()
    expect(seen).toEqual(['room.joined', 'signal'])
    socket.frame({ type: 'signal', room_id: 'r1', data: {} })
    expect(seen).toEqual(['room.joined', 'signal', 'signal'])
  })

  it('reads the token from the source it was last given', () => {
    const { client } = makeClient('old')
    client.setTokenSource(() => 'new')
    client.start()
    latest().open()
    expect(latest().sent[0]).toEqual({ type: 'auth', token: 'new' })
  })

})
