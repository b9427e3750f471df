/**
 * Tracks that end by themselves are opened again and swapped in; hidden pages wait until visible;
 * a refusal leaves one button. Devices are played by the test (happy-dom has no media).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeStream, FakeTrack } from '@/testing/fakeMedia'
import { useTrackRecovery, type Kind } from './useTrackRecovery'

let stream: FakeStream
let refuse: Error | null
let swapped: string[]
let visibility: DocumentVisibilityState
let dispose: (() => void) | null = null

const flush = () => new Promise((r) => setTimeout(r, 0))

function setup() {
  const recovery = useTrackRecovery({
    stream: () => stream as unknown as MediaStream,
    reopen: async (kind: Kind) => {
      if (refuse) throw refuse
      return new FakeTrack(kind, `${kind}-${swapped.length + 2}`) as unknown as MediaStreamTrack
    },
    swap: async (kind: Kind, track: MediaStreamTrack) => {
      const fresh = track as unknown as FakeTrack
      for (const old of stream.getTracks().filter((t) => t.kind === kind)) stream.removeTrack(old)
      stream.addTrack(fresh)
      swapped.push(fresh.deviceId)
      return true
    },
  })
  recovery.watch(stream as unknown as MediaStream)
  dispose = recovery.dispose
  return recovery
}

beforeEach(() => {
  stream = new FakeStream([new FakeTrack('audio'), new FakeTrack('video')])
  refuse = null
  swapped = []
  visibility = 'visible'
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => visibility })
})
afterEach(() => {
  dispose?.()
  Reflect.deleteProperty(document, 'visibilityState')
})

describe('useTrackRecovery', () => {
  it('opens an ended camera again and watches the new one too', async () => {
    const recovery = setup()
    stream.getVideoTracks()[0].end()
    await flush()
    expect(swapped).toEqual(['video-2'])
    stream.getVideoTracks()[0].end() // the new track is watched as well
    await flush()
    expect(swapped).toEqual(['video-2', 'video-3'])
    expect(recovery.resumeLabel.value).toBeNull()
  })

  it('leaves a track it no longer holds alone (our own switch or hang-up)', async () => {
    setup()
    const old = stream.getVideoTracks()[0]
    stream.removeTrack(old)
    old.end()
    await flush()
    expect(swapped).toEqual([])
  })

  it('offers one button when the browser refuses, and the tap brings it back', async () => {
    const recovery = setup()
    refuse = Object.assign(new Error('gesture'), { name: 'NotAllowedError' })
    stream.getVideoTracks()[0].end()
    await flush()
    expect(recovery.resumeNeeded.value).toEqual(['video'])
    expect(recovery.resumeLabel.value).toBe('Turn camera back on')
    expect(recovery.resumeError.value).toBeNull() // nothing to explain before the person tried
    stream.getAudioTracks()[0].end()
    await flush()
    expect(recovery.resumeLabel.value).toBe('Turn camera and microphone back on')

    expect(await recovery.resume()).toBe(false) // still refused: say why
    expect(recovery.resumeError.value).toBeTruthy()
    refuse = null
    expect(await recovery.resume()).toBe(true)
    expect(swapped.map((id) => id.split('-')[0]).sort()).toEqual(['audio', 'video'])
    expect(recovery.resumeLabel.value).toBeNull()
    expect(recovery.resumeError.value).toBeNull()
  })

  it('waits while the page is hidden and reopens what ended when it is visible again', async () => {
    setup()
    visibility = 'hidden'
    document.dispatchEvent(new Event('visibilitychange'))
    stream.getVideoTracks()[0].end()
    await flush()
    expect(swapped).toEqual([])
    visibility = 'visible'
    document.dispatchEvent(new Event('visibilitychange'))
    await flush()
    expect(swapped).toEqual(['video-2'])
  })
})
