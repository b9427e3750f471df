/**
 * The visit's camera and microphone: opened once, the choice remembered across visits, mute, and
 * switching cameras without renegotiation. getUserMedia and enumerateDevices are played by the
 * test; the peer connection is a sink that records the tracks it is given.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { FakeStream, FakeTrack } from '@/testing/fakeMedia'
import { useDevices, type TrackSink } from './useDevices'

const CAMERAS = [
  { kind: 'videoinput', deviceId: 'cam-a', label: 'Front' },
  { kind: 'videoinput', deviceId: 'cam-b', label: 'USB' },
]
let opened: { constraints: MediaStreamConstraints; stream: FakeStream }[] = []
let busyOnce = false
let unplugged = new Set<string>()

function getUserMedia(constraints: MediaStreamConstraints): Promise<FakeStream> {
  if (busyOnce) {
    busyOnce = false
    return Promise.reject(Object.assign(new Error('busy'), { name: 'NotReadableError' }))
  }
  const video = constraints.video
  const wanted = typeof video === 'object' && typeof video.deviceId === 'object' && !Array.isArray(video.deviceId)
    ? String(video.deviceId.exact) : 'cam-a'
  if (unplugged.has(wanted)) return Promise.reject(Object.assign(new Error('gone'), { name: 'OverconstrainedError' }))
  const tracks = [
    ...(constraints.audio ? [new FakeTrack('audio', 'mic-a')] : []),
    ...(video ? [new FakeTrack('video', wanted)] : []),
  ]
  const stream = new FakeStream(tracks)
  opened.push({ constraints, stream })
  return Promise.resolve(stream)
}

function recordingSink(): TrackSink & { replaced: string[]; attached: (MediaStream | null)[] } {
  const sink = {
    replaced: [] as string[],
    attached: [] as (MediaStream | null)[],
    async replaceTrack(kind: 'audio' | 'video', track: MediaStreamTrack) {
      sink.replaced.push(`${kind}:${track.getSettings().deviceId}`)
    },
    setLocal() {},
    attach(stream: MediaStream | null) {
      sink.attached.push(stream)
    },
  }
  return sink
}

beforeEach(() => {
  opened = []
  busyOnce = false
  unplugged = new Set()
  vi.stubGlobal('MediaStream', FakeStream)
  Object.defineProperty(navigator, 'mediaDevices', {
    configurable: true,
    value: { getUserMedia: vi.fn(getUserMedia), enumerateDevices: vi.fn(async () => CAMERAS) },
  })
})
afterEach(() => {
  vi.unstubAllGlobals()
  localStorage.clear()
})

const flush = () => new Promise((r) => setTimeout(r, 0))

describe('useDevices', () => {
  it('opens the camera once for everyone who asks, and hands it to the connection made meanwhile', async () => {
    const sink = recordingSink()
    const media = useDevices(() => sink)
    expect(media.mediaComing()).toBe(false)
    const first = media.prepareMedia()
    expect(media.mediaComing()).toBe(true) // a connection made now leaves room for the tracks
    let settled = false
    void media.mediaSettled().then(() => (settled = true))
    await Promise.resolve()
    expect(settled).toBe(false)
    expect(media.prepareMedia()).toBe(first)
    expect(await first).toBe(true)
    expect(opened).toHaveLength(1)
    expect(media.mediaComing()).toBe(false)
    expect(settled).toBe(true)
    expect(await media.mediaSettled()).toBe(true) // nothing opening: at once
    expect(sink.attached).toEqual([media.localStream.value])
    expect(sink.attached[0]!.getTracks().map((t) => t.kind).sort()).toEqual(['audio', 'video'])
  })

  it('tells the connection when the camera could not be opened, so it stops waiting for tracks', async () => {
    const sink = recordingSink()
    const media = useDevices(() => sink)
    vi.mocked(navigator.mediaDevices.getUserMedia).mockRejectedValueOnce(Object.assign(new Error('no'), { name: 'NotAllowedError' }))
    expect(await media.prepareMedia()).toBe(false)
    expect(media.mediaError.value).toMatch(/blocked/)
    expect(media.mediaComing()).toBe(false)
    expect(sink.attached).toEqual([null])
  })

  it('mutes by disabling the track, not by stopping it', async () => {
    const media = useDevices(() => null)
    await media.prepareMedia()
    media.toggleMic()
    media.toggleCam()
    const [audio, video] = opened[0].stream.getTracks()
    expect([audio.enabled, video.enabled]).toEqual([false, false])
    expect(audio.stopped).toBe(false)
    media.toggleMic()
    expect(audio.enabled).toBe(true)
  })

  it('switches to the next camera with replaceTrack and remembers it for the next visit', async () => {
    const sink = recordingSink()
    const media = useDevices(() => sink)
    await media.prepareMedia()
    await flush() // the device list arrives in the background
    expect(media.canSwitchCamera.value).toBe(true)
    const before = opened[0].stream.getVideoTracks()[0]
    await media.switchCamera()
    expect(sink.replaced).toEqual(['video:cam-b'])
    expect(media.cameraId.value).toBe('cam-b')
    expect(before.stopped).toBe(true) // the old camera is off
    expect(media.localStream.value?.getVideoTracks()[0].getSettings().deviceId).toBe('cam-b')
    media.release()

    const next = useDevices(() => null)
    await next.prepareMedia()
    expect(opened[2].constraints.video).toMatchObject({ deviceId: { exact: 'cam-b' } })
  })

  it('stops the current camera first when the phone cannot run two at once', async () => {
    const sink = recordingSink()
    const media = useDevices(() => sink)
    await media.prepareMedia()
    const current = opened[0].stream.getVideoTracks()[0]
    busyOnce = true
    await media.selectCamera('cam-b')
    expect(current.stopped).toBe(true)
    expect(sink.replaced).toEqual(['video:cam-b'])
    expect(media.mediaError.value).toBeNull()
  })

  it('ignores a remembered choice it cannot read', async () => {
    localStorage.setItem('televisit.devices', JSON.stringify({ cameraId: 42, facingMode: 'sideways' }))
    const media = useDevices(() => null)
    await media.prepareMedia()
    expect(opened[0].constraints.video).toMatchObject({ facingMode: { ideal: 'user' } })
  })

  it('stops media that opens after the visit was released', async () => {
    const media = useDevices(() => null)
    const opening = media.prepareMedia()
    media.release()
    expect(await opening).toBe(false)
    expect(opened[0].stream.active).toBe(false)
    expect(media.localStream.value).toBeNull()
  })

  it('opens an ended camera again and sends it; an unplugged one gives way to any camera', async () => {
    const sink = recordingSink()
    const media = useDevices(() => sink)
    await media.prepareMedia()
    await media.selectCamera('cam-b')
    const cam = () => media.localStream.value!.getVideoTracks()[0] as unknown as FakeTrack
    cam().end() // another app took it: the same camera again
    await flush()
    expect(sink.replaced).toEqual(['video:cam-b', 'video:cam-b'])
    expect(cam().readyState).toBe('live')
    unplugged.add('cam-b')
    cam().end() // unplugged: any camera will do
    await flush()
    await flush()
    expect(sink.replaced).toEqual(['video:cam-b', 'video:cam-b', 'video:cam-a'])
    expect(media.resumeLabel.value).toBeNull()
  })
})
