/** The typed REST client (generated types from openapi.json) and one error type for every failure. */
import createClient, { type Middleware } from 'openapi-fetch'
import type { components, paths } from './schema'

export type Schemas = components['schemas']
export type User = Schemas['UserPublic']
export type Appointment = Schemas['AppointmentPublic']
export type CheckIn = Schemas['CheckInPublic']
export type Checks = Schemas['Checks']
export type CheckResult = Checks['camera']
export type NetworkCheck = Schemas['NetworkCheck']
export type CallSummary = Schemas['CallSummary']
export type CallQualityReport = Schemas['CallQualityCreate']
export type AppointmentEvent = Schemas['EventPublic']
export type PersonRef = Schemas['PersonRef']
export type Message = Schemas['MessagePublic']
export type Patient = Schemas['PatientPublic']
export type Room = Schemas['RoomPublic']
export type IceServer = Schemas['IceServer']

/** A failure the user can be told about: HTTP errors keep the contract's code, network errors are 0. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfter: number | null = null,
    /** The error body's `details` (e.g. why a link stopped working), as the server sent it. */
    readonly details: unknown = null,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

export const NETWORK_MESSAGE = 'Cannot reach Televisit. Check your internet connection and try again.'

let tokenSource: () => string | null = () => null
let onUnauthorized: () => void = () => {}

/** The session store tells the client where the token is and what to do when it stops working. */
export function configureAuth(getToken: () => string | null, unauthorized: () => void): void {
  tokenSource = getToken
  onUnauthorized = unauthorized
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = tokenSource()
    if (token) request.headers.set('Authorization', `Bearer ${token}`)
    return request
  },
  onResponse({ request, response }) {
    if (response.status === 401 && !request.url.endsWith('/auth/login')) onUnauthorized()
    return response
  },
}

export const api = createClient<paths>({
  baseUrl: globalThis.location?.origin ?? '',
  // Looked up per request (not captured once), so tests and service workers see the current fetch.
  fetch: (request: Request) => globalThis.fetch(request),
})
api.use(auth)

interface Result<T> {
  data?: T
  error?: unknown
  response: Response
}

/** Await an openapi-fetch call and return its data, or throw an ApiError with a message for people. */
export async function call<T>(request: Promise<Result<T>>): Promise<T> {
  let result: Result<T>
  try {
    result = await request
  } catch {
    throw new ApiError(0, 'network', NETWORK_MESSAGE)
  }
  const { data, error, response } = result
  if (response.ok) return data as T
  const body = (error ?? {}) as { error?: { code?: string; message?: string; details?: unknown } }
  const retry = Number(response.headers.get('Retry-After'))
  throw new ApiError(
    response.status,
    body.error?.code ?? `http_${response.status}`,
    body.error?.message ?? `The server answered ${response.status}. Please try again.`,
    Number.isFinite(retry) && retry > 0 ? retry : null,
    body.error?.details ?? null,
  )
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message
  if (err instanceof Error) return err.message
  return 'Something went wrong. Please try again.'
}
