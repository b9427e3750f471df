import { describe, expect, it } from 'vitest'
import { canShareScreen, outcomeOf } from './screenShare'

describe('screen share', () => {
  it('is offered only where the browser can capture a screen (not on phones)', () => {
    expect(canShareScreen({ getDisplayMedia: async () => new MediaStream() } as Partial<MediaDevices>)).toBe(true)
    expect(canShareScreen({} as Partial<MediaDevices>)).toBe(false)
    expect(canShareScreen(undefined)).toBe(false)
  })

  it('treats closing the browser\'s picker as a choice, anything else as a failure to report', () => {
    expect(outcomeOf(new DOMException('denied', 'NotAllowedError'))).toBe('cancelled')
    expect(outcomeOf(new DOMException('aborted', 'AbortError'))).toBe('cancelled')
    expect(outcomeOf(new DOMException('no source', 'NotReadableError'))).toBe('failed')
    expect(outcomeOf(new Error('x'))).toBe('failed')
  })
})
