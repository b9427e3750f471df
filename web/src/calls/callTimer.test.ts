import { describe, expect, it } from 'vitest'
import { formatDuration, isoDuration } from './callTimer'

describe('the call timer', () => {
  it('shows minutes and seconds, with hours only past an hour', () => {
    expect(formatDuration(0)).toBe('00:00')
    expect(formatDuration(59_999)).toBe('00:59')
    expect(formatDuration(61_000)).toBe('01:01')
    expect(formatDuration(59 * 60_000 + 59_000)).toBe('59:59')
    expect(formatDuration(3_600_000 + 5 * 60_000 + 7_000)).toBe('1:05:07')
  })

  it('never shows a negative time (a clock that moved back)', () => {
    expect(formatDuration(-5_000)).toBe('00:00')
  })

  it('gives machines the same length as an ISO 8601 duration', () => {
    expect(isoDuration(7_000)).toBe('PT7S')
    expect(isoDuration(61_000)).toBe('PT1M1S')
    expect(isoDuration(3_600_000 + 7_000)).toBe('PT1H0M7S')
  })
})
