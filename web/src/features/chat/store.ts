/**
 * Chat per appointment: history from REST, live frames and sync replays from the WebSocket,
 * merged by `seq` so each message shows once and in order. Unsent messages keep their
 * client_msg_id and are sent again after a reconnect (the server stores each id once).
 */
import { defineStore } from 'pinia'
import { reactive } from 'vue'
import { api, call, type Message } from '@/api/client'
import { contiguousSeq, lastSeq, mergeBySeq, unreadCount } from './ordering'
import { useAppointmentsStore } from '@/stores/appointments'
import { useRealtimeStore } from '@/stores/realtime'
import { useSessionStore } from '@/stores/session'

export interface Pending {
  clientMsgId: string
  body: string
  failed: string | null
}

interface Thread {
  messages: Message[]
  pending: Pending[]
  readSeq: number
  /** The history is complete up to here. Live frames may be ahead of it (the history can load late). */
  historySeq: number
  loaded: boolean
  error: string | null
}

const GAP_WAIT_MS = 1000

function newId(): string {
  return `web-${crypto.randomUUID()}`
}

export const useChatStore = defineStore('chat', () => {
  const realtime = useRealtimeStore()
  const session = useSessionStore()
  const appointments = useAppointmentsStore()
  const threads = reactive(new Map<string, Thread>())

  function thread(appointmentId: string): Thread {
    let t = threads.get(appointmentId)
    if (!t) {
      threads.set(appointmentId, { messages: [], pending: [], readSeq: 0, historySeq: 0, loaded: false, error: null })
      t = threads.get(appointmentId)!
    }
    return t
  }

  function add(appointmentId: string, messages: Message[]): void {
    const t = thread(appointmentId)
    t.messages = mergeBySeq(t.messages, messages)
    const stored = new Set(messages.map((m) => m.client_msg_id))
    t.pending = t.pending.filter((p) => !stored.has(p.clientMsgId))
  }

  /**
   * Fetch the history after what is known. It pages from the history's own position, not from the
   * newest message shown: a live message that arrived before the history must not hide the ones
   * before it (the call screen loads the history once the call is up).
   */
  async function load(appointmentId: string): Promise<void> {
    const t = thread(appointmentId)
    try {
      for (;;) {
        const page = await call(
          api.GET('/api/v1/appointments/{appointment_id}/messages', {
            params: { path: { appointment_id: appointmentId }, query: { after_seq: t.historySeq, limit: 100 } },
          }),
        )
        add(appointmentId, page.items)
        t.historySeq = Math.max(t.historySeq, lastSeq(page.items))
        if (!page.next_cursor || page.items.length === 0) break
      }
      t.loaded = true
      t.error = null
    } catch {
      t.error = 'Could not load earlier messages. New messages still arrive.'
    }
  }

  function send(appointmentId: string, body: string): void {
    const text = body.trim()
    if (!text) return
    const pending: Pending = { clientMsgId: newId(), body: text, failed: null }
    thread(appointmentId).pending.push(pending)
    realtime.client.send({ type: 'chat.send', appointment_id: appointmentId, client_msg_id: pending.clientMsgId, body: text, ref: pending.clientMsgId })
  }

  /** Everything shown is read: here, on the server (the list's count), and so on other devices. */
  function markRead(appointmentId: string): void {
    const t = thread(appointmentId)
    t.readSeq = Math.max(t.readSeq, lastSeq(t.messages))
    if (t.readSeq > 0) appointments.markRead(appointmentId, t.readSeq)
  }

  function unread(appointmentId: string): number {
    const t = thread(appointmentId)
    return unreadCount(t.messages, t.readSeq, session.user?.id)
  }

  // A live message past a gap: the one before it may still be on its way from the other server
  // instance, or its broker message may be lost. Give it a moment, then ask for what is missing.
  const gapTimers = new Map<string, ReturnType<typeof setTimeout>>()
  function watchGap(appointmentId: string): void {
    const t = thread(appointmentId)
    if (!t.loaded || gapTimers.has(appointmentId) || contiguousSeq(t.messages) >= lastSeq(t.messages)) return
    gapTimers.set(appointmentId, setTimeout(() => {
      gapTimers.delete(appointmentId)
      const held = contiguousSeq(t.messages)
      if (held < lastSeq(t.messages)) {
        realtime.client.send({ type: 'chat.sync', appointment_id: appointmentId, after_seq: held })
      }
    }, GAP_WAIT_MS))
  }

  realtime.client.on('chat.message', (frame) => {
    const message = frame.message
    if (!message?.appointment_id) return
    add(message.appointment_id, [message])
    watchGap(message.appointment_id)
  })
  // Read on another of this person's devices: the count clears here too.
  realtime.client.on('chat.read', (frame) => {
    if (frame.reader_id !== session.user?.id) return
    const t = thread(frame.appointment_id)
    t.readSeq = Math.max(t.readSeq, frame.seq)
  })
  realtime.client.on('error', (frame) => {
    const ref = typeof frame.ref === 'string' ? frame.ref : null
    if (!ref) return
    for (const t of threads.values()) {
      const p = t.pending.find((x) => x.clientMsgId === ref)
      if (p) p.failed = frame.message || 'Not sent.'
    }
  })
  // After a reconnect: ask for what we missed, then resend what never got stored.
  realtime.client.onResume((reconnected) => {
    if (!reconnected) return
    for (const [appointmentId, t] of threads) {
      realtime.client.sendNow({ type: 'chat.sync', appointment_id: appointmentId, after_seq: contiguousSeq(t.messages) })
      for (const p of t.pending) {
        realtime.client.sendNow({ type: 'chat.send', appointment_id: appointmentId, client_msg_id: p.clientMsgId, body: p.body, ref: p.clientMsgId })
      }
    }
  })

  return { threads, thread, load, send, markRead, unread, add }
})
