/**
 * Which frames concern the call, and when they run: the real signaling client over a scripted
 * socket (the test plays the server), and a call that records what it is told.
 */
import { beforeEach, describe, expect, it } from 'vitest'
import { SignalingClient } from '@/realtime/signaling'
import { latest, ScriptedSocket } from '@/testing/scriptedSocket'
import { listenToCallFrames, type CallFrameHandlers } from './callFrames'

const ROOM = 'room-1'
const ME = 'patient-1'
const DOC = 'doctor-1'

interface FakeCall extends CallFrameHandlers {
  log: string[]
  room: string | null
  ended_: boolean
}

function fakeCall(): FakeCall {
  const call: FakeCall = {
    log: [],
    room: ROOM,
    ended_: false,
    inRoom: (id) => call.room === id && !call.ended_,
    inCall: () => call.room !== null && !call.ended_,
    me: () => ME,
    entered: (room) => call.log.push(`entered ${room}`),
    joined: (frame) => call.log.push(`joined polite=${frame.polite}`),
    otherJoined: () => call.log.push('other joined'),
    otherLeft: () => call.log.push('other left'),
    signal: (data) => call.log.push(`signal ${JSON.stringify(data)}`),
    remoteMedia: (audio, video, extra) => call.log.push(`remote audio=${audio} video=${video}`
      + (extra.screen || extra.audioOnly ? ` screen=${extra.screen} audioOnly=${extra.audioOnly} reason=${extra.reason}` : '')),
    otherQuality: (level) => call.log.push(`their quality ${level}`),
    ended: (reason) => {
      call.ended_ = true
      call.log.push(`ended ${reason}`)
    },
    joinFailed: (message) => call.log.push(`failed ${message}`),
  }
  return call
}

function setUp(): { call: FakeCall; socket: ScriptedSocket } {
  const client = new SignalingClient({ url: 'ws://x/api/v1/ws', getToken: () => 'tok', createSocket: (url) => new ScriptedSocket(url) })
  const call = fakeCall()
  listenToCallFrames(client, call)
  client.start()
  const socket = latest()
  socket.open()
  socket.frame({ type: 'ready', user_id: ME, connection_id: 'c1', ref: null })
  return { call, socket }
}

const participant = (userId: string) => ({ user_id: userId, role: 'doctor', joined_at: 'then', left_at: null })
const joined = (roomId = ROOM) => ({
  type: 'room.joined', ref: 'room.join', room: { id: roomId }, polite: true, ice_servers: [],
  participants: [participant(ME)],
})

beforeEach(() => {
  ScriptedSocket.all = []
})

describe('the call frames', () => {
  it('ignores frames for another room and about ourselves', () => {
    const { call, socket } = setUp()
    socket.frame(joined('room-2'))
    socket.frame({ type: 'participant.joined', room_id: ROOM, participant: participant(ME) })
    socket.frame({ type: 'media.state', room_id: 'room-2', from: DOC, audio: false, video: false })
    socket.frame({ type: 'room.ended', room_id: 'room-2', reason: 'ended', status: 'completed' })
    expect(call.log).toEqual([])
  })

  it("takes the other person's quality, never our own or another room's", () => {
    const { call, socket } = setUp()
    socket.frame(joined())
    socket.frame({ type: 'quality', room_id: ROOM, user_id: DOC, level: 'poor' })
    socket.frame({ type: 'quality', room_id: ROOM, user_id: ME, level: 'excellent' })
    socket.frame({ type: 'quality', room_id: 'room-2', user_id: DOC, level: 'lost' })
    expect(call.log.filter((l) => l.startsWith('their'))).toEqual(['their quality poor'])
  })

  it('passes on a screen share and audio only, and reads a frame without them as both off', () => {
    const { call, socket } = setUp()
    socket.frame(joined())
    socket.frame({ type: 'media.state', room_id: ROOM, from: DOC, audio: true, video: true, screen: true,
      audio_only: true, audio_only_reason: 'network' })
    socket.frame({ type: 'media.state', room_id: ROOM, from: DOC, audio: true, video: false })
    expect(call.log.filter((l) => l.startsWith('remote'))).toEqual([
      'remote audio=true video=true screen=true audioOnly=true reason=network',
      'remote audio=true video=false',
    ])
  })

  it('runs the peer frames as they arrive, in their order (nothing waits for the camera)', () => {
    const { call, socket } = setUp()
    socket.frame(joined())
    socket.frame({ type: 'participant.joined', room_id: ROOM, participant: participant(DOC) })
    socket.frame({ type: 'signal', room_id: ROOM, from: DOC, data: { candidate: null } })
    socket.frame({ type: 'participant.left', room_id: ROOM, participant: participant(DOC) })
    socket.frame({ type: 'media.state', room_id: ROOM, from: DOC, audio: false, video: true })
    expect(call.log).toEqual([
      `entered ${ROOM}`, 'joined polite=true', 'other joined', 'signal {"candidate":null}', 'other left',
      'remote audio=false video=true',
    ])
  })

  it('drops the room frames that come after the call ended', () => {
    const { call, socket } = setUp()
    socket.frame(joined())
    socket.frame({ type: 'room.ended', room_id: ROOM, reason: 'unused-timeout', status: 'failed' })
    socket.frame({ type: 'participant.joined', room_id: ROOM, participant: participant(DOC) })
    socket.frame({ type: 'signal', room_id: ROOM, from: DOC, data: { candidate: null } })
    expect(call.log).toEqual([`entered ${ROOM}`, 'joined polite=true', 'ended unused-timeout'])
  })

  it('ignores signal data that is neither a description nor a candidate', () => {
    const { call, socket } = setUp()
    socket.frame({ type: 'signal', room_id: ROOM, from: DOC, data: { description: { type: 'bogus' } } })
    socket.frame({ type: 'signal', room_id: ROOM, from: DOC, data: { description: { type: 'offer', sdp: 'v=0' } } })
    expect(call.log).toEqual(['signal {"description":{"type":"offer","sdp":"v=0"}}'])
  })

  it('ends the call when it is declined or continues on another device', () => {
    const declined = setUp()
    declined.socket.frame({ type: 'call.declined', room_id: ROOM, appointment_id: 'a1', by: DOC })
    expect(declined.call.log).toEqual(['ended declined'])
    const replaced = setUp()
    replaced.socket.frame({ type: 'room.replaced', room_id: ROOM, reason: 'duplicate-identity' })
    expect(replaced.call.log).toEqual(['ended duplicate-identity'])
  })

  it('reads an error answering our room.join: gone rooms end the call, others are shown', () => {
    const { call, socket } = setUp()
    socket.frame({ type: 'error', ref: 'chat-1', code: 'rate_limited', message: 'Slow down', details: null })
    socket.frame({ type: 'error', ref: 'room.join', code: 'forbidden', message: 'Not yours', details: null })
    expect(call.log).toEqual(['failed Not yours'])
    socket.frame({ type: 'error', ref: 'room.join', code: 'room_not_found', message: 'No room', details: null })
    expect(call.log).toEqual(['failed Not yours', 'ended room_not_found'])
    socket.frame({ type: 'error', ref: 'room.join', code: 'forbidden', message: 'Late', details: null })
    expect(call.log).toHaveLength(2) // the call is over: nothing more to tell
  })
})
