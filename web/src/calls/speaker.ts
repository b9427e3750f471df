/**
 * Choosing the speaker (audio output) where the browser lets a page do it (`setSinkId`: Chromium
 * and Firefox on desktops; not Safari, not phones, which route sound themselves), and the test
 * sound of the pre-call check: a short tone made here as a WAV file, so there is nothing to fetch.
 */

const SPEAKER_KEY = 'televisit.speaker'

/** An element that can play to a chosen output. */
export interface SinkElement {
  setSinkId(id: string): Promise<void>
}

export function canChooseSpeaker(proto: object | undefined = globalThis.HTMLMediaElement?.prototype): boolean {
  return proto !== undefined && 'setSinkId' in proto
}

export function hasSink(el: unknown): el is SinkElement {
  return typeof el === 'object' && el !== null && typeof Reflect.get(el, 'setSinkId') === 'function'
}

/** The outputs to offer; the browser's "default" entry stands for the system's choice. */
export function speakersOf(devices: readonly MediaDeviceInfo[]): MediaDeviceInfo[] {
  return devices.filter((d) => d.kind === 'audiooutput')
}

export function loadSpeaker(): string {
  try {
    return localStorage.getItem(SPEAKER_KEY) ?? ''
  } catch {
    return ''
  }
}

/** Device ids are not secrets (docs/web.md): kept like the camera choice. */
export function saveSpeaker(id: string): void {
  localStorage.setItem(SPEAKER_KEY, id)
}

/**
 * A mono 16-bit PCM WAV of a sine tone, faded in and out (no click): the pre-call check's test
 * sound. 44-byte RIFF header, then the samples.
 */
export function toneWav(frequencyHz = 660, durationMs = 900, sampleRate = 22_050, volume = 0.4): Uint8Array<ArrayBuffer> {
  const count = Math.round((sampleRate * durationMs) / 1000)
  const bytes = new Uint8Array(44 + count * 2)
  const view = new DataView(bytes.buffer)
  const ascii = (at: number, text: string) => [...text].forEach((c, i) => view.setUint8(at + i, c.charCodeAt(0)))
  ascii(0, 'RIFF')
  view.setUint32(4, 36 + count * 2, true)
  ascii(8, 'WAVE')
  ascii(12, 'fmt ')
  view.setUint32(16, 16, true) // fmt chunk size
  view.setUint16(20, 1, true) // PCM
  view.setUint16(22, 1, true) // mono
  view.setUint32(24, sampleRate, true)
  view.setUint32(28, sampleRate * 2, true) // byte rate
  view.setUint16(32, 2, true) // block align
  view.setUint16(34, 16, true) // bits per sample
  ascii(36, 'data')
  view.setUint32(40, count * 2, true)
  const fade = Math.min(count / 2, Math.round(sampleRate * 0.03))
  for (let i = 0; i < count; i++) {
    const envelope = Math.min(1, i / fade, (count - 1 - i) / fade)
    const value = Math.sin((2 * Math.PI * frequencyHz * i) / sampleRate) * volume * envelope
    view.setInt16(44 + i * 2, Math.round(value * 32767), true)
  }
  return bytes
}

/** Play the test sound on the chosen speaker ('' is the system's); resolves when it has ended. */
export async function playTestSound(speakerId: string): Promise<void> {
  const url = URL.createObjectURL(new Blob([toneWav()], { type: 'audio/wav' }))
  const audio = new Audio(url)
  try {
    if (speakerId && hasSink(audio)) await audio.setSinkId(speakerId)
    await new Promise<void>((resolve, reject) => {
      audio.addEventListener('ended', () => resolve(), { once: true })
      audio.addEventListener('error', () => reject(new Error('test sound failed')), { once: true })
      audio.play().catch(reject)
    })
  } finally {
    URL.revokeObjectURL(url)
  }
}
