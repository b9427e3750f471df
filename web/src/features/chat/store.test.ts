import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Message } from '@/api/client'
import { recordFetch, type RecordedRequest } from '@/testing/recordedFetch'
import { latest, ScriptedSocket } from '@/testing/scriptedSocket'
import { signInForTest } from '@/testing/session'
import { useChatStore } from './store'

const AP = 'appointment-1'
const msg = (seq: number, sender: string, clientMsgId = `c${seq}`): Message => ({
  id: `id-${seq}`, seq, appointment_id: AP, sender_id: sender, client_msg_id: clientMsgId, body: `m${seq}`,
  created_at: '2030-01-01T00:00:00Z',
})

function ready(socket: ScriptedSocket): void {
  socket.open()
  socket.frame({ type: 'ready', user_id: 'me' })
}

const json = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } })
let requests: RecordedRequest[] = []

beforeEach(() => {
  ScriptedSocket.all = []
  vi.useFakeTimers()
  vi.stubGlobal('WebSocket', ScriptedSocket)
  // The REST side of what the store does (a read marker; the visits list, read again after a
  // reconnect): answered here, so nothing reaches for a server that is not there.
  requests = recordFetch((r) => (r.method === 'GET' ? json({ items: [], next_cursor: null }) : new Response(null, { status: 204 })))
  signInForTest({ id: 'me', email: 'p@x', full_name: 'Pat', role: 'patient' })
  setActivePinia(createPinia())
})
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
  sessionStorage.clear()
})

describe('chat store', () => {
  it('shows each message once, in seq order, and clears the pending copy when it is stored', async () => {
    const chat = useChatStore()
    const socket = latest()
    chat.send(AP, '  hello  ')
    ready(socket)
    const sent = socket.sent.find((f) => f.type === 'chat.send')!
    expect(sent).toMatchObject({ appointment_id: AP, body: 'hello' })
    const clientMsgId = String(sent.client_msg_id)
    expect(chat.thread(AP).pending).toHaveLength(1)

    socket.frame({ type: 'chat.message', message: msg(2, 'doc') })
    socket.frame({ type: 'chat.message', message: msg(1, 'doc') })
    socket.frame({ type: 'chat.message', message: msg(3, 'me', clientMsgId) })
    socket.frame({ type: 'chat.message', message: msg(2, 'doc') })
    expect(chat.thread(AP).messages.map((m) => m.seq)).toEqual([1, 2, 3])
    expect(chat.thread(AP).pending).toHaveLength(0)
    expect(chat.unread(AP)).toBe(2)
    chat.markRead(AP)
    expect(chat.unread(AP)).toBe(0)
    await vi.waitFor(() => expect(requests).toEqual([
      { method: 'POST', url: `/api/v1/appointments/${AP}/messages/read`, body: { seq: 3 } }]))
  })

  it('after a reconnect asks for what it missed and resends what was never stored', () => {
    const chat = useChatStore()
    const first = latest()
    ready(first)
    first.frame({ type: 'chat.message', message: msg(1, 'doc') })
    first.frame({ type: 'chat.message', message: msg(2, 'doc') })
    first.drop(1012) // server restart: the message below is typed while offline
    chat.send(AP, 'are you there?')
    vi.advanceTimersByTime(0)
    const second = latest()
    expect(second).not.toBe(first)
    ready(second)
    const types = second.types()
    expect(types[0]).toBe('auth')
    expect(second.sent).toContainEqual({ type: 'chat.sync', appointment_id: AP, after_seq: 2 })
    const resent = second.sent.filter((f) => f.type === 'chat.send')
    expect(resent.length).toBeGreaterThanOrEqual(1)
    expect(new Set(resent.map((f) => f.client_msg_id)).size).toBe(1) // the same id: stored once
    expect(types.indexOf('chat.sync')).toBeLessThan(types.lastIndexOf('chat.send'))
  })

  it('loads the whole history even when live messages came first, each once and in order', async () => {
    const asked: string[] = []
    vi.stubGlobal('fetch', vi.fn(async (request: Request) => {
      const after = new URL(request.url).searchParams.get('after_seq')
      asked.push(after ?? '')
      const items = after === '0' ? [msg(1, 'doc'), msg(2, 'me'), msg(3, 'doc')] : []
      return new Response(JSON.stringify({ items, next_cursor: null }), {
        status: 200, headers: { 'content-type': 'application/json' },
      })
    }))
    const chat = useChatStore()
    const socket = latest()
    ready(socket)
    // The call screen loads the history once the call is up; the chat went on meanwhile.
    socket.frame({ type: 'chat.message', message: msg(4, 'doc') })
    socket.frame({ type: 'chat.message', message: msg(3, 'doc') })
    await chat.load(AP)
    expect(asked).toEqual(['0'])
    expect(chat.thread(AP).messages.map((m) => m.seq)).toEqual([1, 2, 3, 4])
    expect(chat.thread(AP).loaded).toBe(true)
    socket.frame({ type: 'chat.message', message: msg(5, 'doc') })
    await chat.load(AP) // a later visit: only what came after the history
    expect(asked).toEqual(['0', '3'])
    expect(chat.thread(AP).messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5])
  })

  it('asks for a message missing between two live ones if it does not arrive by itself', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response(
      JSON.stringify({ items: [msg(1, 'doc'), msg(2, 'me')], next_cursor: null }),
      { status: 200, headers: { 'content-type': 'application/json' } })))
    const chat = useChatStore()
    const socket = latest()
    ready(socket)
    await chat.load(AP)
    socket.frame({ type: 'chat.message', message: msg(4, 'doc') }) // 3 is late: it comes by itself
    socket.frame({ type: 'chat.message', message: msg(3, 'me') })
    vi.advanceTimersByTime(2000)
    expect(socket.sent.filter((f) => f.type === 'chat.sync')).toEqual([])
    socket.frame({ type: 'chat.message', message: msg(6, 'doc') }) // 5 is lost
    vi.advanceTimersByTime(999)
    expect(socket.sent.filter((f) => f.type === 'chat.sync')).toEqual([])
    vi.advanceTimersByTime(1)
    expect(socket.sent.filter((f) => f.type === 'chat.sync')).toEqual([
      { type: 'chat.sync', appointment_id: AP, after_seq: 4 }])
  })

  it('marks a refused message as not sent, with the server’s reason', () => {
    const chat = useChatStore()
    const socket = latest()
    ready(socket)
    chat.send(AP, 'x'.repeat(10))
    const ref = socket.sent.find((f) => f.type === 'chat.send')!.ref
    socket.frame({ type: 'error', code: 'message_too_long', message: 'The message is too long.', ref })
    expect(chat.thread(AP).pending[0].failed).toBe('The message is too long.')
  })
})
