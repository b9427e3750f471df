/** A scripted WebSocket for unit tests: the test plays the server. */
import type { SocketLike } from '@/realtime/signaling'

export class ScriptedSocket implements SocketLike {
  static all: ScriptedSocket[] = []
  readyState = 0
  sent: Record<string, unknown>[] = []
  closedWith: number | null = null
  onopen: ((ev: unknown) => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  onclose: ((ev: { code: number; reason?: string }) => void) | null = null
  onerror: ((ev: unknown) => void) | null = null
  constructor(readonly url: string) {
    ScriptedSocket.all.push(this)
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data))
  }
  close(code = 1000): void {
    this.closedWith = code
  }
  // server side
  open(): void {
    this.readyState = 1
    this.onopen?.({})
  }
  frame(frame: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) })
  }
  drop(code: number): void {
    this.readyState = 3
    this.onclose?.({ code })
  }
  types(): string[] {
    return this.sent.map((f) => String(f.type))
  }
}

export const latest = () => ScriptedSocket.all[ScriptedSocket.all.length - 1]
