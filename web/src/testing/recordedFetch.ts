/** fetch for unit tests: the test plays the REST server, and no request leaves the process. */
import { vi } from 'vitest'

export interface RecordedRequest {
  method: string
  /** The path, e.g. /api/v1/appointments/a1/messages/read. */
  url: string
  /** The JSON body, or null. */
  body: unknown
}

const noContent = () => new Response(null, { status: 204 })

/**
 * Stub the global fetch: every request is recorded (in the returned list) and answered by
 * `answer` (204 No Content unless told otherwise). Undone by `vi.unstubAllGlobals()`.
 */
export function recordFetch(answer: (request: RecordedRequest) => Response = noContent): RecordedRequest[] {
  const requests: RecordedRequest[] = []
  vi.stubGlobal('fetch', vi.fn(async (request: Request) => {
    const recorded = { method: request.method, url: new URL(request.url).pathname, body: request.body ? await request.json() : null }
    requests.push(recorded)
    return answer(recorded)
  }))
  return requests
}
