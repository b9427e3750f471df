/** The verification code: the same on both sides, from the two certificates, and different when one changes. */
import { describe, expect, it } from 'vitest'
import { codeOf, fingerprints, spaced, verificationCode } from './verification'

const DOCTOR_FP = '4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3B:AF:64:0E:9E:2C:6A:9B:1F:3C:8D:2E'
const PATIENT_FP = '6B:8B:5D:EA:59:04:20:23:90:F6:A9:1C:3E:2C:9B:C2:1D:3F:1A:55:C8:4F:00:12:9A:AD:3E:8C:70:FB:01:C4'
// The patient's fingerprint with its last byte changed: what a swapped certificate looks like.
const OTHER_FP = PATIENT_FP.slice(0, -2) + 'C5'

/** A Chromium-style description: the fingerprint on every bundled m-line, as Chrome writes it. */
function sdp(fingerprint: string, type: 'offer' | 'answer'): string {
  const setup = type === 'offer' ? 'actpass' : 'active'
  return [
    'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0 1',
    'a=extmap-allow-mixed', 'a=msid-semantic: WMS stream',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'c=IN IP4 0.0.0.0', 'a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
    `a=fingerprint:sha-256 ${fingerprint}`, `a=setup:${setup}`, 'a=mid:0', 'a=sendrecv', 'a=rtpmap:111 opus/48000/2',
    'm=video 9 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 0.0.0.0', 'a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
    `a=fingerprint:sha-256 ${fingerprint}`, `a=setup:${setup}`, 'a=mid:1', 'a=sendrecv', 'a=rtpmap:96 VP8/90000',
    '',
  ].join('\r\n')
}

describe('verification code', () => {
  it('reads each certificate once from a bundled description', () => {
    expect(fingerprints(sdp(DOCTOR_FP, 'offer'))).toEqual([`sha-256 ${DOCTOR_FP}`])
  })

  it('is the same six digits on both sides (known value: SHA-256 of the sorted pair)', async () => {
    const doctorSees = await verificationCode(sdp(DOCTOR_FP, 'offer'), sdp(PATIENT_FP, 'answer'))
    const patientSees = await verificationCode(sdp(PATIENT_FP, 'answer'), sdp(DOCTOR_FP, 'offer'))
    expect(doctorSees).toBe('678346')
    expect(patientSees).toBe(doctorSees)
    expect(spaced(doctorSees!)).toBe('678 346')
  })

  it('changes when a fingerprint changes (someone put their own certificate in)', async () => {
    const real = await verificationCode(sdp(DOCTOR_FP, 'offer'), sdp(PATIENT_FP, 'answer'))
    const swapped = await verificationCode(sdp(DOCTOR_FP, 'offer'), sdp(OTHER_FP, 'answer'))
    expect(swapped).toBe('871790')
    expect(swapped).not.toBe(real)
  })

  it('ignores letter case (browsers differ) and needs both sides', async () => {
    const lower = await verificationCode(sdp(DOCTOR_FP.toLowerCase(), 'offer'), sdp(PATIENT_FP, 'answer'))
    expect(lower).toBe('678346')
    expect(await verificationCode(sdp(DOCTOR_FP, 'offer'), 'v=0\r\n')).toBeNull()
  })

  it('reads a peer connection only once both descriptions are set', async () => {
    expect(await codeOf(null)).toBeNull()
    const half = { currentLocalDescription: { sdp: sdp(DOCTOR_FP, 'offer') }, currentRemoteDescription: null }
    expect(await codeOf(half as unknown as RTCPeerConnection)).toBeNull()
    const both = { currentLocalDescription: { sdp: sdp(DOCTOR_FP, 'offer') }, currentRemoteDescription: { sdp: sdp(PATIENT_FP, 'answer') } }
    expect(await codeOf(both as unknown as RTCPeerConnection)).toBe('678346')
  })
})
