/** Camera and microphone: acquiring them, explaining failures, listing and switching devices. */

export interface DeviceChoice {
  cameraId?: string
  micId?: string
  facingMode?: 'user' | 'environment'
}

/** Where the chosen camera and microphone are remembered. */
export const CHOICE_KEY = 'televisit.devices'

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)

/** The remembered choice (`televisit.devices`); device ids are not secrets, so localStorage is fine (docs/web.md). */
export function loadChoice(): DeviceChoice {
  try {
    const saved: unknown = JSON.parse(localStorage.getItem(CHOICE_KEY) ?? '{}')
    if (typeof saved !== 'object' || saved === null) return {}
    const facingMode: unknown = Reflect.get(saved, 'facingMode')
    return {
      cameraId: text(Reflect.get(saved, 'cameraId')),
      micId: text(Reflect.get(saved, 'micId')),
      facingMode: facingMode === 'user' || facingMode === 'environment' ? facingMode : undefined,
    }
  } catch {
    return {}
  }
}

export class MediaError extends Error {
  constructor(readonly kind: 'denied' | 'missing' | 'busy' | 'unsupported' | 'other', message: string) {
    super(message)
    this.name = 'MediaError'
  }
}

export function describeMediaError(err: unknown): MediaError {
  const name = (err as { name?: string })?.name ?? ''
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return new MediaError('denied',
      'Camera and microphone access is blocked. Allow it in your browser’s site settings, then try again.')
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError') {
    return new MediaError('missing', 'No camera or microphone was found. Connect one, then try again.')
  }
  if (name === 'NotReadableError' || name === 'AbortError') {
    return new MediaError('busy',
      'Your camera or microphone is in use by another app. Close it, then try again.')
  }
  if (name === 'TypeError' && !navigator.mediaDevices) {
    return new MediaError('unsupported', 'This browser cannot use a camera here. Open Televisit over HTTPS.')
  }
  return new MediaError('other', 'The camera or microphone could not be started. Please try again.')
}

function videoConstraints(choice: DeviceChoice): MediaTrackConstraints {
  const base: MediaTrackConstraints = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } }
  if (choice.cameraId) return { ...base, deviceId: { exact: choice.cameraId } }
  return { ...base, facingMode: { ideal: choice.facingMode ?? 'user' } }
}

export async function openLocalMedia(choice: DeviceChoice = {}): Promise<MediaStream> {
  if (!navigator.mediaDevices?.getUserMedia) throw describeMediaError({ name: 'TypeError' })
  const audio: MediaTrackConstraints = {
    echoCancellation: true, noiseSuppression: true, ...(choice.micId ? { deviceId: { exact: choice.micId } } : {}),
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ audio, video: videoConstraints(choice) })
  } catch (err) {
    // A remembered device may be gone: retry once with any device before giving up.
    if ((choice.cameraId || choice.micId) && (err as Error).name === 'OverconstrainedError') {
      return openLocalMedia({ facingMode: choice.facingMode })
    }
    throw describeMediaError(err)
  }
}

export async function openCamera(choice: DeviceChoice): Promise<MediaStreamTrack> {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: videoConstraints(choice) })
    return stream.getVideoTracks()[0]
  } catch (err) {
    throw describeMediaError(err)
  }
}

/** The microphone `micId`, or the default one without an id. */
export async function openMicrophone(micId?: string): Promise<MediaStreamTrack> {
  const audio: MediaTrackConstraints = { echoCancellation: true, noiseSuppression: true }
  if (micId) audio.deviceId = { exact: micId }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio })
    return stream.getAudioTracks()[0]
  } catch (err) {
    throw describeMediaError(err)
  }
}

export interface Devices {
  cameras: MediaDeviceInfo[]
  microphones: MediaDeviceInfo[]
}

export async function listDevices(): Promise<Devices> {
  const all = (await navigator.mediaDevices?.enumerateDevices?.()) ?? []
  return {
    cameras: all.filter((d) => d.kind === 'videoinput'),
    microphones: all.filter((d) => d.kind === 'audioinput'),
  }
}

/** The next camera: the other facingMode where the browser knows it, else the next device in the list. */
export function nextCamera(cameras: MediaDeviceInfo[], currentId: string | undefined): MediaDeviceInfo | null {
  if (cameras.length < 2) return null
  const index = cameras.findIndex((c) => c.deviceId === currentId)
  return cameras[(index + 1) % cameras.length]
}

export function facingOf(track: MediaStreamTrack | undefined): 'user' | 'environment' | undefined {
  const facing = track?.getSettings?.().facingMode
  return facing === 'user' || facing === 'environment' ? facing : undefined
}

/** Microphone level 0..1 for the pre-call check; returns a stop function. */
export function watchLevel(stream: MediaStream, onLevel: (level: number) => void): () => void {
  const Ctx = window.AudioContext
  if (!Ctx || stream.getAudioTracks().length === 0) return () => {}
  const ctx = new Ctx()
  const source = ctx.createMediaStreamSource(stream)
  const analyser = ctx.createAnalyser()
  analyser.fftSize = 512
  source.connect(analyser)
  const data = new Uint8Array(analyser.fftSize)
  const timer = setInterval(() => {
    analyser.getByteTimeDomainData(data)
    let sum = 0
    for (const v of data) sum += ((v - 128) / 128) ** 2
    onLevel(Math.min(1, Math.sqrt(sum / data.length) * 4))
  }, 100)
  return () => {
    clearInterval(timer)
    source.disconnect()
    void ctx.close()
  }
}

export function stopStream(stream: MediaStream | null | undefined): void {
  for (const track of stream?.getTracks() ?? []) track.stop()
}
