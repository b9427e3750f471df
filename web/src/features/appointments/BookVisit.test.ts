/**
 * The booking form's suggested time stays bookable: a suggestion that passes while the form stays
 * open is replaced by the next free time, and a time that has passed is never sent.
 */
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { signInForTest } from '@/testing/session'
import { type RecordedRequest, recordFetch } from '@/testing/recordedFetch'
import BookVisit from './BookVisit.vue'

/** A local time on the test's day. */
const at = (h: number, m: number, s = 0) => new Date(2026, 11, 7, h, m, s)
let suggestions: Date[] = []
let requests: RecordedRequest[] = []
const bookings = () => requests.filter((r) => r.method === 'POST')

beforeEach(() => {
  suggestions = []
  vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
  vi.setSystemTime(at(9, 4, 30))
  // The REST server: the next free time from `suggestions`; a booking is only recorded.
  requests = recordFetch((r) => r.url.endsWith('/slots/next-free')
    ? new Response(JSON.stringify({ starts_at: suggestions.shift()!.toISOString() }), {
      status: 200, headers: { 'content-type': 'application/json' },
    })
    : new Response(JSON.stringify({ detail: 'not in this test' }), { status: 500 }))
  signInForTest({ id: 'doc', email: 'd@x', full_name: 'Dr Who', role: 'doctor' })
  setActivePinia(createPinia())
})
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
  sessionStorage.clear()
})

async function openForm(first: Date) {
  suggestions.push(first)
  const wrapper = mount(BookVisit)
  await flushPromises()
  return wrapper
}

const shown = (wrapper: ReturnType<typeof mount>) => (wrapper.get('#visit-when').element as HTMLInputElement).value

describe('the booking form’s suggested time', () => {
  it('is replaced by the next free time once it has passed while the form stayed open', async () => {
    const wrapper = await openForm(at(9, 10))
    expect(shown(wrapper)).toBe('2026-12-07T09:10')
    expect(wrapper.text()).toContain('Your next free time is filled in.')
    suggestions.push(at(9, 15))
    await vi.advanceTimersByTimeAsync(4 * 60_000) // 09:08:30: still ahead
    expect(shown(wrapper)).toBe('2026-12-07T09:10')
    expect(suggestions).toHaveLength(1) // not asked again
    await vi.advanceTimersByTimeAsync(75_000) // 09:09:45: 15 s ahead, still bookable
    expect(shown(wrapper)).toBe('2026-12-07T09:10')
    await vi.advanceTimersByTimeAsync(15_000) // 09:10:00: its time has come
    await flushPromises()
    expect(shown(wrapper)).toBe('2026-12-07T09:15')
    expect(suggestions).toHaveLength(0)
  })

  it('is not sent once passed: the form fills in the next free time and asks to book again', async () => {
    const wrapper = await openForm(at(9, 10))
    await wrapper.get('input[type=radio][value=true]').setValue(true) // a new patient, no search
    await wrapper.get('#new-patient-name').setValue('Ann Example')
    await wrapper.get('#new-patient-email').setValue('ann@example.org')
    vi.setSystemTime(at(9, 10, 2)) // the interval had no turn yet (a sleeping laptop)
    suggestions.push(at(9, 20))
    await wrapper.get('form').trigger('submit')
    await flushPromises()
    expect(bookings()).toEqual([])
    expect(shown(wrapper)).toBe('2026-12-07T09:20')
    expect(wrapper.get('[role=alert]').text()).toMatch(/has passed\. Your next free time is now/)
  })

  it('refuses a time typed by hand that has passed, and leaves it to the doctor', async () => {
    const wrapper = await openForm(at(9, 10))
    await wrapper.get('input[type=radio][value=true]').setValue(true)
    await wrapper.get('#new-patient-name').setValue('Ann Example')
    await wrapper.get('#new-patient-email').setValue('ann@example.org')
    const input = wrapper.get('#visit-when')
    await input.setValue('2026-12-07T09:00')
    await input.trigger('input')
    await wrapper.get('form').trigger('submit')
    await flushPromises()
    expect(bookings()).toEqual([])
    expect(shown(wrapper)).toBe('2026-12-07T09:00')
    expect(wrapper.get('[role=alert]').text()).toBe('That time has passed: choose a later one.')
    await vi.advanceTimersByTimeAsync(60_000)
    expect(shown(wrapper)).toBe('2026-12-07T09:00') // never replaced behind her back
  })
})
