import { describe, expect, it } from 'vitest'
import { canChooseSpeaker, speakersOf, toneWav } from './speaker'

describe('the test sound', () => {
  it('is a valid mono 16-bit PCM WAV of the asked length', () => {
    const wav = toneWav(660, 500, 8000)
    const view = new DataView(wav.buffer)
    const text = (at: number) => String.fromCharCode(...wav.slice(at, at + 4))
    expect([text(0), text(8), text(12), text(36)]).toEqual(['RIFF', 'WAVE', 'fmt ', 'data'])
    expect(view.getUint16(20, true)).toBe(1) // PCM
    expect(view.getUint16(22, true)).toBe(1) // mono
    expect(view.getUint32(24, true)).toBe(8000)
    expect(view.getUint16(34, true)).toBe(16)
    expect(view.getUint32(40, true)).toBe(4000 * 2)
    expect(wav.length).toBe(44 + 4000 * 2)
    expect(view.getUint32(4, true)).toBe(wav.length - 8)
  })

  it('is a tone, faded in and out (no click at either end)', () => {
    const wav = toneWav(440, 500, 8000, 0.5)
    const view = new DataView(wav.buffer)
    const sample = (i: number) => view.getInt16(44 + i * 2, true)
    expect(sample(0)).toBe(0)
    expect(Math.abs(sample(3999))).toBeLessThan(200)
    let peak = 0
    for (let i = 0; i < 4000; i++) peak = Math.max(peak, Math.abs(sample(i)))
    expect(peak).toBeGreaterThan(0.45 * 32767)
    expect(peak).toBeLessThanOrEqual(0.5 * 32767 + 1)
  })
})

describe('speaker choice', () => {
  it('is offered only where media elements can choose their output', () => {
    expect(canChooseSpeaker({ setSinkId() {} })).toBe(true)
    expect(canChooseSpeaker({})).toBe(false)
  })

  it('lists audio outputs only', () => {
    const d = (kind: MediaDeviceKind, deviceId: string) => ({ kind, deviceId, label: deviceId, groupId: '' }) as MediaDeviceInfo
    expect(speakersOf([d('audioinput', 'mic'), d('audiooutput', 'default'), d('videoinput', 'cam'), d('audiooutput', 'hdmi')])
      .map((x) => x.deviceId)).toEqual(['default', 'hdmi'])
  })
})
