import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { fastFirstPicture, FIRST_PICTURE_MS, START_PIXELS, startScale, startSmall } from './firstPicture'

/** A sender as Chromium keeps one: getParameters returns a copy, setParameters replaces it. */
function fakeSender(kind: 'video' | 'audio', width = 1280, height = 720, encodings: RTCRtpEncodingParameters[] = [{ active: true }]) {
  let params: RTCRtpSendParameters = { encodings, transactionId: 't', codecs: [], headerExtensions: [], rtcp: {} }
  return {
    track: { kind, getSettings: () => ({ width, height }) },
    getParameters: () => structuredClone(params),
    setParameters: vi.fn(async (p: RTCRtpSendParameters) => { params = structuredClone(p) }),
    get params() { return params },
  }
}

function fakePc(...senders: ReturnType<typeof fakeSender>[]) {
  return { connectionState: 'new', getSenders: () => senders } as unknown as RTCPeerConnection & { connectionState: string }
}

describe('the size the camera starts at', () => {
  it('halves until the picture is no larger than Chromium sends at its start bitrate', () => {
    expect(startScale(1280, 720)).toBe(4)
    expect(startScale(640, 480)).toBe(2)
    expect(startScale(1920, 1080)).toBe(8)
    expect(startScale(320, 240)).toBe(1)
    expect(startScale(undefined, 720)).toBe(1)
    for (const [w, h] of [[1280, 720], [640, 480], [1920, 1080], [4096, 2160]] as const) {
      const s = startScale(w, h)
      expect((w / s) * (h / s)).toBeLessThanOrEqual(START_PIXELS)
      expect((w / (s / 2)) * (h / (s / 2))).toBeGreaterThan(START_PIXELS)
    }
  })
})

describe('a new connection', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('starts the camera small and held, then gives back its size and the browser\'s choice', async () => {
    const camera = fakeSender('video')
    const mic = fakeSender('audio')
    fastFirstPicture(fakePc(camera, mic))
    await vi.advanceTimersByTimeAsync(0)
    expect(camera.params.degradationPreference).toBe('maintain-resolution')
    expect(camera.params.encodings[0]).toEqual({ active: true, scaleResolutionDownBy: 4 })
    expect(mic.setParameters).not.toHaveBeenCalled()

    await vi.advanceTimersByTimeAsync(FIRST_PICTURE_MS - 1)
    expect(camera.params.encodings[0]!.scaleResolutionDownBy).toBe(4)
    await vi.advanceTimersByTimeAsync(1)
    expect(camera.params.degradationPreference).toBeUndefined()
    expect(camera.params.encodings[0]).toEqual({ active: true, scaleResolutionDownBy: 1 })
  })

  it('leaves alone a size set meanwhile (a shared screen\'s thumbnail) and what audio only set', async () => {
    const camera = fakeSender('video')
    fastFirstPicture(fakePc(camera))
    await vi.advanceTimersByTimeAsync(0)
    const p = camera.getParameters()
    p.encodings = [{ active: false, scaleResolutionDownBy: 2, maxBitrate: 150_000 }]
    await camera.setParameters(p)
    await vi.advanceTimersByTimeAsync(FIRST_PICTURE_MS)
    expect(camera.params.encodings[0]).toEqual({ active: false, scaleResolutionDownBy: 2, maxBitrate: 150_000 })
    expect(camera.params.degradationPreference).toBeUndefined()
  })

  it('does nothing for a camera already small, and nothing after the connection closed', async () => {
    const small = fakeSender('video', 320, 240)
    fastFirstPicture(fakePc(small))
    await vi.advanceTimersByTimeAsync(FIRST_PICTURE_MS)
    expect(small.setParameters).not.toHaveBeenCalled()

    const camera = fakeSender('video')
    const pc = fakePc(camera)
    fastFirstPicture(pc)
    await vi.advanceTimersByTimeAsync(0)
    pc.connectionState = 'closed'
    await vi.advanceTimersByTimeAsync(FIRST_PICTURE_MS)
    expect(camera.setParameters).toHaveBeenCalledTimes(1)
  })

  it('cancels the return when asked (the connection is being closed)', async () => {
    const camera = fakeSender('video')
    const cancel = fastFirstPicture(fakePc(camera))
    cancel()
    await vi.advanceTimersByTimeAsync(FIRST_PICTURE_MS)
    expect(camera.setParameters).toHaveBeenCalledTimes(1)
  })

  it('keeps the browser\'s own choice when it refuses the parameters', async () => {
    const camera = fakeSender('video')
    camera.setParameters.mockRejectedValueOnce(new DOMException('no', 'InvalidModificationError'))
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    await startSmall(camera as unknown as RTCRtpSender, 4)
    expect(camera.params.encodings[0]).toEqual({ active: true })
    expect(warn).toHaveBeenCalled()
    warn.mockRestore()
  })
})
