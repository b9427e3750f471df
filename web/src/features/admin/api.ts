/** The admin area's calls to /api/v1/admin, typed from openapi.json, and how it names things. */
import { api, call, type Schemas } from '@/api/client'

export type Role = Schemas['Role']
export type AdminUser = Schemas['AdminUserPublic']
export type AdminUserDetail = Schemas['AdminUserDetail']
export type AuditEvent = Schemas['AuditEventPublic']
export type Action = Schemas['Action']
export type Outcome = Schemas['Outcome']

export interface Page<T> {
  items: T[]
  next_cursor: string | null
}

export interface UserFilters {
  query?: string
  role?: Role
  active?: boolean
}

/** The audit filters, as the API names them (times are ISO 8601 with an offset). */
export interface AuditFilters {
  actor_id?: string
  object_id?: string
  action?: Action
  outcome?: Outcome
  from?: string
  to?: string
}

export const ROLE_LABELS: Record<Role, string> = { patient: 'Patient', doctor: 'Doctor', admin: 'Admin' }

/** Typed against the API's list: a new action fails the type check until it has a label here. */
export const ACTION_LABELS: Record<Action, string> = {
  'auth.sign_in': 'Sign-in',
  'auth.sign_out': 'Sign-out',
  'auth.session_expired': 'Expired session used',
  'auth.mfa.enroll': 'Two-factor set-up started',
  'auth.mfa.enable': 'Two-factor sign-in turned on',
  'auth.mfa.disable': 'Two-factor sign-in turned off',
  'account.update': 'Account settings changed',
  'appointment.list': 'Visits listed',
  'appointment.read': 'Visit opened',
  'appointment.book': 'Visit booked',
  'appointment.cancel': 'Visit cancelled',
  'appointment.change': 'Visit moved',
  'appointment.export': 'Visit exported (FHIR)',
  'appointment.check_in': 'Checked in to the waiting room',
  'appointment.check_out': 'Left the waiting room',
  'appointment.events.read': 'Visit history read',
  'appointment.next_free': 'Next free time looked up',
  'chat.read': 'Chat read',
  'chat.send': 'Chat message sent',
  'chat.mark_read': 'Chat marked as read',
  'call.start': 'Call started',
  'call.read': 'Call looked up',
  'call.join': 'Call joined',
  'call.leave': 'Call left',
  'call.end': 'Call ended',
  'call.decline': 'Call declined',
  'call.quality_report': 'Call quality reported',
  'admin.access': 'Admin area refused',
  'admin.users.list': 'Accounts listed',
  'admin.users.read': 'Account opened',
  'admin.users.create': 'Account created',
  'admin.users.deactivate': 'Account deactivated',
  'admin.users.reactivate': 'Account reactivated',
  'admin.users.revoke_sessions': 'Signed out everywhere',
  'admin.users.clear_throttling': 'Failed sign-ins cleared',
  'admin.users.reset_mfa': 'Two-factor sign-in reset',
  'admin.audit.list': 'Audit log read',
  'admin.audit.export': 'Audit log downloaded',
  'auth.join': 'Visit opened from an emailed link',
  'auth.scope_limited': 'Visit-link session refused elsewhere',
  'auth.password_reset.request': 'Password email requested',
  'auth.password_reset': 'Password reset',
  'auth.register.existing': 'Registration tried with a taken address',
  'account.invite': 'Patient invited by booking',
  'push.subscribe': 'Call notifications turned on for a device',
  'push.unsubscribe': 'Call notifications turned off for a device',
}

export const OUTCOME_LABELS: Record<Outcome, string> = { success: 'Success', denied: 'Denied', failed: 'Failed' }

export function actionLabel(action: string): string {
  return (ACTION_LABELS as Record<string, string>)[action] ?? action
}

export function listUsers(filters: UserFilters, cursor?: string | null): Promise<Page<AdminUser>> {
  return call(api.GET('/api/v1/admin/users', {
    params: { query: { ...filters, query: filters.query || undefined, cursor: cursor ?? undefined, limit: 25 } },
  }))
}

export function getUser(id: string): Promise<AdminUserDetail> {
  return call(api.GET('/api/v1/admin/users/{user_id}', { params: { path: { user_id: id } } }))
}

export function createUser(body: Schemas['AdminUserCreate']): Promise<Schemas['UserPublic']> {
  return call(api.POST('/api/v1/admin/users', { body }))
}

export function deactivateUser(id: string): Promise<AdminUserDetail> {
  return call(api.POST('/api/v1/admin/users/{user_id}/deactivate', { params: { path: { user_id: id } } }))
}

export function reactivateUser(id: string): Promise<AdminUserDetail> {
  return call(api.POST('/api/v1/admin/users/{user_id}/reactivate', { params: { path: { user_id: id } } }))
}

export async function revokeSessions(id: string): Promise<number> {
  const body = await call(api.POST('/api/v1/admin/users/{user_id}/revoke-sessions', { params: { path: { user_id: id } } }))
  return body.revoked
}

export async function clearThrottling(id: string): Promise<number> {
  const body = await call(api.POST('/api/v1/admin/users/{user_id}/clear-throttling', { params: { path: { user_id: id } } }))
  return body.cleared
}

export async function resetMfa(id: string): Promise<boolean> {
  const body = await call(api.POST('/api/v1/admin/users/{user_id}/reset-mfa', { params: { path: { user_id: id } } }))
  return body.reset
}

export function listAudit(filters: AuditFilters, cursor?: string | null): Promise<Page<AuditEvent>> {
  return call(api.GET('/api/v1/admin/audit', { params: { query: { ...filters, cursor: cursor ?? undefined, limit: 50 } } }))
}

/**
 * Download the filtered log as CSV. Fetched with the bearer header like every call (a token must
 * never be in a URL), then handed to the browser as a file through a short-lived blob URL.
 */
export async function downloadAuditCsv(filters: AuditFilters, now = new Date()): Promise<string> {
  const blob = await call(api.GET('/api/v1/admin/audit.csv', { params: { query: filters }, parseAs: 'blob' }))
  const name = `televisit-audit-${now.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z.csv`
  const url = URL.createObjectURL(blob)
  try {
    const link = document.createElement('a')
    link.href = url
    link.download = name
    link.hidden = true
    document.body.append(link)
    link.click()
    link.remove()
  } finally {
    setTimeout(() => URL.revokeObjectURL(url), 10_000)
  }
  return name
}
