/** Chat arrives at least once and maybe out of order (REST history, live frames, sync replays). */
import type { Message } from '@/api/client'

/** Merge `incoming` into `existing`: one message per seq, ascending; the input is not changed. */
export function mergeBySeq(existing: readonly Message[], incoming: readonly Message[]): Message[] {
  if (incoming.length === 0) return existing as Message[]
  const bySeq = new Map<number, Message>()
  for (const m of existing) bySeq.set(m.seq, m)
  let changed = false
  for (const m of incoming) {
    if (!bySeq.has(m.seq)) {
      bySeq.set(m.seq, m)
      changed = true
    }
  }
  if (!changed) return existing as Message[]
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq)
}

export function lastSeq(messages: readonly Message[]): number {
  return messages.length ? messages[messages.length - 1].seq : 0
}

/**
 * The highest seq up to which every message is held (seq is gap-free from 1 per appointment).
 * Sync from here, not from the newest held: the two people's messages are published by different
 * server instances, so n + 1 can arrive before n, and syncing after n + 1 would lose n for good.
 */
export function contiguousSeq(messages: readonly Message[]): number {
  let held = 0
  for (const m of messages) {
    if (m.seq > held + 1) break
    held = Math.max(held, m.seq)
  }
  return held
}

/** Messages from the other person after what this reader has seen. */
export function unreadCount(messages: readonly Message[], readSeq: number, me: string | undefined): number {
  return messages.filter((m) => m.seq > readSeq && m.sender_id !== me).length
}
