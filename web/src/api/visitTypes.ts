/**
 * TEMPORARY: the visit contract's additions (issue 11, /work/wt/VISIT_SPEC.md) written by hand
 * until openapi.json and asyncapi.json carry them; replaced by the generated types after the
 * server's part is merged, and then this file is deleted.
 */
import { api } from './client'
import type { SignalingClient } from '@/realtime/signaling'

export type CheckResult = 'ok' | 'failed' | 'skipped'
export interface NetworkCheck { rtt_ms: number | null; bitrate_kbps: number | null; turn: CheckResult }
export interface Checks { camera: CheckResult; microphone: CheckResult; network: NetworkCheck | null }
export interface CheckIn { at: string; present: boolean; left_at: string | null; checks: Checks }
export interface CallSummary { room_id: string; started_at: string; ended_at: string | null; duration_seconds: number | null }
export interface PersonRef { id: string; full_name: string }

/** What AppointmentPublic gains (optional here: a server without them still works). */
export interface VisitExtras {
  check_in?: CheckIn | null
  unread_count?: number
  last_message_at?: string | null
  messaging_until?: string
  call?: CallSummary | null
  doctor_busy?: boolean
}

export type EventKind = 'booked' | 'changed' | 'cancelled' | 'checked_in' | 'left_waiting_room' | 'call_started'
  | 'joined' | 'left' | 'reconnected' | 'declined' | 'call_ended' | 'quality'
export interface AppointmentEvent { id: string; at: string; kind: EventKind; actor: PersonRef | null; data: Record<string, unknown> }
export interface Conflict { id: string; starts_at: string; duration_minutes: number; patient: PersonRef }

export interface ChatRead { type: 'chat.read'; appointment_id: string; reader_id: string; seq: number }
export interface AppointmentCreated { type: 'appointment.created'; appointment: import('./client').Appointment }
export interface CallIncomingExtra { auto_join?: boolean }

interface Result { data?: unknown; error?: unknown; response: Response }
type Untyped = (path: string, init?: Record<string, unknown>) => Promise<Result>
/** The new endpoints through the same client (auth header, errors), before schema.d.ts has them. */
export const untyped = api as unknown as { GET: Untyped; POST: Untyped; DELETE: Untyped }

/** Listen to a frame type frames.d.ts does not list yet. */
export function onUntyped<T>(client: Pick<SignalingClient, 'on'>, type: string, listener: (frame: T) => void): () => void {
  return (client.on as unknown as (t: string, l: (f: T) => void) => () => void).call(client, type, listener)
}
