/** What the call takes from the server for WebRTC: the relayed `signal` data and the ICE servers. */
import { describe, expect, it } from 'vitest'
import { mainTransceiver, readSignal, screenTransceiver, toRtcIceServers } from './peer'

describe('readSignal', () => {
  it('reads a description and a candidate as the other browser sent them', () => {
    expect(readSignal({ description: { type: 'offer', sdp: 'v=0' } })).toEqual({ description: { type: 'offer', sdp: 'v=0' } })
    expect(readSignal({ candidate: { candidate: 'candidate:1', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: null } }))
      .toEqual({ candidate: { candidate: 'candidate:1', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: null } })
    expect(readSignal({ candidate: null })).toEqual({ candidate: null }) // end of candidates
  })

  it('keeps only the fields WebRTC reads, of the right kind', () => {
    expect(readSignal({ candidate: { candidate: 'c', sdpMid: 5, extra: 'x' } })).toEqual({ candidate: { candidate: 'c' } })
  })

  it('refuses what is neither', () => {
    expect(readSignal({})).toBeNull()
    expect(readSignal({ description: { type: 'nonsense', sdp: 'v=0' } })).toBeNull()
    expect(readSignal({ candidate: 'c' })).toBeNull()
  })
})

describe('toRtcIceServers', () => {
  it('leaves absent TURN credentials out instead of passing null', () => {
    expect(toRtcIceServers([
      { urls: ['stun:stun.example.org'], username: null, credential: null },
      { urls: ['turn:turn.example.org'], username: '1700000000:u1', credential: 'c2VjcmV0' },
    ])).toEqual([
      { urls: ['stun:stun.example.org'] },
      { urls: ['turn:turn.example.org'], username: '1700000000:u1', credential: 'c2VjcmV0' },
    ])
  })
})

/** A peer connection reduced to what the line lookups read: its transceivers and a description. */
function fakePc(lines: Array<{ kind: 'audio' | 'video'; mid: string | null }>, sdpMids: string[] | null) {
  const transceivers = lines.map(({ kind, mid }) => ({ mid, currentDirection: null, receiver: { track: { kind } } }))
  const sdp = sdpMids ? ['v=0', ...sdpMids.map((m) => `a=mid:${m}`)].join('\r\n') : undefined
  return { pc: { getTransceivers: () => transceivers, remoteDescription: sdp ? { sdp } : null, localDescription: null } as unknown as RTCPeerConnection, transceivers }
}

describe('the screen line', () => {
  it('is the second video line of the description, whatever order the transceivers were made in', () => {
    // An answerer without a camera: its own receive-only transceivers first, unnegotiated.
    const { pc, transceivers } = fakePc([
      { kind: 'video', mid: null }, { kind: 'audio', mid: 'a' }, { kind: 'video', mid: 's' }, { kind: 'video', mid: 'c' },
    ], ['a', 'c', 's'])
    expect(screenTransceiver(pc)).toBe(transceivers[2])
    expect(mainTransceiver(pc, 'video')).toBe(transceivers[3])
    expect(mainTransceiver(pc, 'audio')).toBe(transceivers[1])
  })

  it('before any description, is the second video transceiver; the camera is the first', () => {
    const { pc, transceivers } = fakePc([{ kind: 'audio', mid: null }, { kind: 'video', mid: null }, { kind: 'video', mid: null }], null)
    expect(screenTransceiver(pc)).toBe(transceivers[2])
    expect(mainTransceiver(pc, 'video')).toBe(transceivers[1])
  })

  it('does not exist on a connection with one video line (an older app offered it): the screen takes the camera\'s place', () => {
    const { pc, transceivers } = fakePc([{ kind: 'audio', mid: '0' }, { kind: 'video', mid: '1' }], ['0', '1'])
    expect(screenTransceiver(pc)).toBeUndefined()
    expect(mainTransceiver(pc, 'video')).toBe(transceivers[1])
  })
})
