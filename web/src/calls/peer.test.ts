/** What the call takes from the server for WebRTC: the relayed `signal` data and the ICE servers. */
import { describe, expect, it } from 'vitest'
import { readSignal, toRtcIceServers } from './peer'

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
