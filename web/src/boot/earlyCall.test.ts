import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { signInForTest } from '@/testing/session'
import { callAddress } from './earlyCall'

const at = (pathname: string, search = '') => ({ pathname, search })

beforeEach(() => {
  signInForTest({ id: 'u1', role: 'patient' })
})
afterEach(() => sessionStorage.clear())

describe('callAddress (which pages start the call before the app: router.ts entryFor, in step)', () => {
  it('takes a call address with a room, signed in', () => {
    expect(callAddress(at('/visits/a%201/call', '?room=r1'))).toEqual({ appointmentId: 'a 1', room: 'r1' })
  })

  it('leaves any other page, and a call address without a room, to the app', () => {
    expect(callAddress(at('/visits/a1/call'))).toBeNull()
    expect(callAddress(at('/visits/a1/check', '?room=r1'))).toBeNull()
    expect(callAddress(at('/visits', '?room=r1'))).toBeNull()
  })

  it('leaves it to the app when signed out or limited to two-factor enrolment', () => {
    sessionStorage.setItem('televisit.mfaEnrollment', 'true')
    expect(callAddress(at('/visits/a1/call', '?room=r1'))).toBeNull()
    sessionStorage.clear()
    expect(callAddress(at('/visits/a1/call', '?room=r1'))).toBeNull()
  })

  it("lets a visit link's session into its own visit only", () => {
    sessionStorage.setItem('televisit.scope', JSON.stringify({ appointmentId: 'a1', passwordSet: false }))
    expect(callAddress(at('/visits/a1/call', '?room=r1'))).not.toBeNull()
    expect(callAddress(at('/visits/a2/call', '?room=r1'))).toBeNull()
  })
})
