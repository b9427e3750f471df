import { describe, expect, it } from 'vitest'
import type { Message } from '@/api/client'
import { contiguousSeq, lastSeq, mergeBySeq, unreadCount } from './ordering'

const msg = (seq: number, sender = 'a', body = `m${seq}`): Message => ({
  id: `id-${seq}`, seq, appointment_id: 'ap', sender_id: sender, client_msg_id: `c${seq}`, body,
  created_at: '2030-01-01T00:00:00Z',
})

describe('mergeBySeq', () => {
  it('orders by seq whatever the arrival order', () => {
    const merged = mergeBySeq([msg(3)], [msg(1), msg(5), msg(2)])
    expect(merged.map((m) => m.seq)).toEqual([1, 2, 3, 5])
  })

  it('keeps one message per seq (at-least-once delivery, sync replays)', () => {
    let thread: Message[] = []
    thread = mergeBySeq(thread, [msg(1), msg(2)]) // REST history
    thread = mergeBySeq(thread, [msg(2)]) // live frame that raced the history
    thread = mergeBySeq(thread, [msg(1), msg(2), msg(3)]) // chat.sync after a reconnect
    thread = mergeBySeq(thread, [msg(3)]) // the broker delivered it twice
    expect(thread.map((m) => m.seq)).toEqual([1, 2, 3])
  })

  it('returns the same array when nothing is new (no needless re-render)', () => {
    const thread = [msg(1), msg(2)]
    expect(mergeBySeq(thread, [msg(2)])).toBe(thread)
    expect(mergeBySeq(thread, [])).toBe(thread)
  })

  it('does not change its input', () => {
    const thread = [msg(2)]
    mergeBySeq(thread, [msg(1)])
    expect(thread.map((m) => m.seq)).toEqual([2])
  })
})

describe('lastSeq and unreadCount', () => {
  it('lastSeq is what chat.sync resumes after', () => {
    expect(lastSeq([])).toBe(0)
    expect(lastSeq(mergeBySeq([], [msg(4), msg(9)]))).toBe(9)
  })

  it('counts only the other person’s messages after the read mark', () => {
    const thread = [msg(1, 'me'), msg(2, 'doc'), msg(3, 'doc'), msg(4, 'me'), msg(5, 'doc')]
    expect(unreadCount(thread, 0, 'me')).toBe(3)
    expect(unreadCount(thread, 3, 'me')).toBe(1)
    expect(unreadCount(thread, 5, 'me')).toBe(0)
  })
})

describe('contiguousSeq', () => {
  it('stops at the first gap, so a sync from it brings the missing message', () => {
    expect(contiguousSeq([])).toBe(0)
    expect(contiguousSeq([msg(1), msg(2), msg(3)])).toBe(3)
    expect(contiguousSeq([msg(1), msg(2), msg(4)])).toBe(2) // 3 is still on its way
    expect(contiguousSeq([msg(5), msg(6)])).toBe(0) // live messages before the history
  })
})
