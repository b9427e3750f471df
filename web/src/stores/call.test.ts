/**
 * Accepting a call: the join goes out at once and the camera opens alongside it, yet the peer
 * connection is only built once the camera is open, so the answer carries our tracks.
 * The test plays the server (scripted WebSocket), the camera (getUserMedia we resolve by hand)
 * and the browser's RTCPeerConnection (a recording fake: happy-dom has none).
 */
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { FakeStream, FakeTrack } from '@/testing/fakeMedia'
import { latest, ScriptedSocket } from '@/testing/scriptedSocket'
import { dropEarlyCall, startEarlyCall, takeEarlySocket } from '@/boot/earlyCall'
import { useCallStore } from './call'
import { useRealtimeStore } from './realtime'

const AP = 'appointment-1'
const ROOM = 'room-1'
const ME = 'patient-1'
const DOC = 'doctor-1'
const APPOINTMENT = {
  id: AP, doctor: { id: DOC, full_name: 'Dr Who' }, patient: { id: ME, full_name: 'Pat' },
}

/** Records what the store does to the connection; descriptions are plain objects. */
class FakePC {
  static all: FakePC[] = []
  signalingState: RTCSignalingState = 'stable'
  connectionState: RTCPeerConnectionState = 'new'
  iceConnectionState: RTCIceConnectionState = 'new'
  localDescription: { type: string; sdp: string; toJSON(): unknown } | null = null
  remoteDescription: { type: string; sdp: string } | null = null
  added: string[] = []
  recvonly: string[] = []
  ontrack = null
  onicecandidate = null
  onconnectionstatechange = null
  oniceconnectionstatechange = null
  onsignalingstatechange = null
  constructor(public config: RTCConfiguration) {
    FakePC.all.push(this)
  }
  getConfiguration(): RTCConfiguration {
    return this.config
  }
  addTrack(track: FakeTrack): void {
    this.added.push(track.kind)
  }
  addTransceiver(kind: string): void {
    this.recvonly.push(kind)
  }
  async createOffer(): Promise<{ type: string; sdp: string }> {
    return { type: 'offer', sdp: 'v=0 offer' }
  }
  async setLocalDescription(d?: { type: string; sdp: string }): Promise<void> {
    const desc = d ?? { type: this.signalingState === 'have-remote-offer' ? 'answer' : 'offer', sdp: 'v=0 local' }
    this.localDescription = { ...desc, toJSON: () => ({ type: desc.type, sdp: desc.sdp }) }
    this.signalingState = desc.type === 'offer' ? 'have-local-offer' : 'stable'
  }
  async setRemoteDescription(d: { type: string; sdp: string }): Promise<void> {
    this.remoteDescription = d
    this.signalingState = d.type === 'offer' ? 'have-remote-offer' : 'stable'
  }
  async addIceCandidate(): Promise<void> {}
  async getStats(): Promise<Map<string, unknown>> {
    return new Map()
  }
  getSenders(): unknown[] {
    return []
  }
  getTransceivers(): unknown[] {
    return []
  }
  close(): void {
    this.connectionState = 'closed'
  }
}

interface Camera {
  resolve(): void
  fail(name: string): void
  tracks: FakeTrack[]
}
let cameras: Camera[] = []
let enumerate: { resolve(devices: unknown[]): void } | null = null

function deferredCamera(): Promise<FakeStream> {
  return new Promise((resolve, reject) => {
    const tracks = [new FakeTrack('audio'), new FakeTrack('video')]
    cameras.push({
      tracks,
      resolve: () => resolve(new FakeStream(tracks)),
      fail: (name) => reject(Object.assign(new Error(name), { name })),
    })
  })
}

const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve()
  await new Promise((r) => setTimeout(r, 0))
}

function ready(): ScriptedSocket {
  const socket = latest()
  socket.open()
  socket.frame({ type: 'ready', user_id: ME })
  return socket
}

const joined = (polite: boolean, policy = 'all') => ({
  type: 'room.joined', room: { id: ROOM }, polite, ice_servers: [], ice_transport_policy: policy,
  participants: [{ user_id: ME, left_at: null }, { user_id: DOC, left_at: null }],
})
const offer = { type: 'signal', room_id: ROOM, data: { description: { type: 'offer', sdp: 'v=0 their offer' } } }

beforeEach(() => {
  ScriptedSocket.all = []
  FakePC.all = []
  cameras = []
  enumerate = null
  vi.stubGlobal('WebSocket', ScriptedSocket)
  vi.stubGlobal('RTCPeerConnection', FakePC)
  vi.stubGlobal('MediaStream', FakeStream)
  vi.stubGlobal('fetch', vi.fn(async () => new Response(JSON.stringify(APPOINTMENT), {
    status: 200, headers: { 'content-type': 'application/json' },
  })))
  Object.defineProperty(navigator, 'mediaDevices', {
    configurable: true,
    value: {
      getUserMedia: vi.fn(deferredCamera),
      enumerateDevices: vi.fn(() => new Promise((resolve) => (enumerate = { resolve }))),
    },
  })
  sessionStorage.setItem('televisit.token', JSON.stringify('tok'))
  sessionStorage.setItem('televisit.user', JSON.stringify({ id: ME, email: 'p@x', full_name: 'Pat', role: 'patient' }))
  setActivePinia(createPinia())
})
afterEach(() => {
  dropEarlyCall()
  takeEarlySocket()
  useCallStore().leave()
  vi.unstubAllGlobals()
  sessionStorage.clear()
  localStorage.clear()
})

describe('accepting a call', () => {
  it('sends room.join before the camera or the appointment are there', async () => {
    const call = useCallStore()
    const socket = ready()
    void call.answer(AP, ROOM)
    expect(socket.sent).toContainEqual({ type: 'room.join', room_id: ROOM, ref: 'room.join' })
    expect(navigator.mediaDevices.getUserMedia).toHaveBeenCalledTimes(1) // opening alongside
    expect(cameras).toHaveLength(1)
    expect(call.localStream).toBeNull()
    expect(call.phase).toBe('waiting')
  })

  it('builds the polite peer only once the camera is open, and answers with its tracks', async () => {
    const call = useCallStore()
    const socket = ready()
    void call.answer(AP, ROOM)
    socket.frame(joined(true))
    socket.frame(offer)
    socket.frame({ type: 'signal', room_id: ROOM, data: { candidate: { candidate: 'c1', sdpMid: '0' } } })
    await flush()
    expect(FakePC.all).toHaveLength(0) // waiting for the camera, not answering without tracks
    expect(socket.sent.filter((f) => f.type === 'signal')).toHaveLength(0)

    cameras[0].resolve()
    await flush()
    expect(FakePC.all).toHaveLength(1)
    const pc = FakePC.all[0]
    expect(pc.added.sort()).toEqual(['audio', 'video'])
    expect(pc.recvonly).toEqual([])
    expect(pc.remoteDescription?.sdp).toBe('v=0 their offer')
    const answers = socket.sent.filter((f) => f.type === 'signal'
      && (f.data as { description?: { type: string } }).description?.type === 'answer')
    expect(answers).toHaveLength(1)
    expect(call.polite).toBe(true)
    expect(call.otherPresent).toBe(true)
    expect(call.phase).toBe('in-call')
  })

  it('tells the ringing card when the answer has gone out (the call screen follows then)', async () => {
    const call = useCallStore()
    const socket = ready()
    let sent = false
    void call.descriptionSent(60_000).then(() => (sent = true))
    void call.answer(AP, ROOM)
    socket.frame(joined(true))
    socket.frame(offer)
    await flush()
    expect(sent).toBe(false) // the camera is still opening: no answer yet
    cameras[0].resolve()
    await flush()
    expect(socket.sent.some((f) => f.type === 'signal')).toBe(true)
    expect(sent).toBe(true)
  })

  it('asks for the visit only once the room has taken us in, so the server handles the join alone', async () => {
    const call = useCallStore()
    const socket = ready()
    void call.answer(AP, ROOM)
    await flush()
    expect(fetch).not.toHaveBeenCalled()
    socket.frame(joined(true))
    cameras[0].resolve()
    await flush()
    expect(fetch).toHaveBeenCalledTimes(1)
    await vi.waitFor(() => expect(call.appointment?.id).toBe(AP))
  })

  it('asks for the visit anyway when the room is slow to answer', async () => {
    const call = useCallStore()
    ready()
    void call.answer(AP, ROOM)
    await flush()
    expect(fetch).not.toHaveBeenCalled()
    await vi.waitFor(() => expect(fetch).toHaveBeenCalledTimes(1), { timeout: 1000 })
  })

  it('does not wait for the device list before the call goes on', async () => {
    const call = useCallStore()
    const socket = ready()
    void call.answer(AP, ROOM)
    socket.frame(joined(true))
    socket.frame(offer)
    cameras[0].resolve()
    await flush()
    expect(enumerate).not.toBeNull() // asked for, still pending
    expect(FakePC.all).toHaveLength(1)
    expect(socket.sent.some((f) => f.type === 'signal')).toBe(true)
    enumerate!.resolve([{ kind: 'videoinput', deviceId: 'cam-a' }, { kind: 'videoinput', deviceId: 'cam-b' }])
    await flush()
    expect(call.canSwitchCamera).toBe(true) // the list still arrives, in the background
  })

  it('keeps the order of frames that waited: joined then left leaves the other one absent', async () => {
    const call = useCallStore()
    const socket = ready()
    void call.answer(AP, ROOM)
    socket.frame({ ...joined(true), participants: [{ user_id: ME, left_at: null }] })
    socket.frame({ type: 'participant.joined', room_id: ROOM, participant: { user_id: DOC, left_at: null } })
    socket.frame({ type: 'participant.left', room_id: ROOM, participant: { user_id: DOC, left_at: 'now' } })
    cameras[0].resolve()
    await flush()
    expect(call.otherPresent).toBe(false)
  })

  it('still joins without a camera: the peer receives only, and the reason is shown', async () => {
    const call = useCallStore()
    const socket = ready()
    void call.answer(AP, ROOM)
    socket.frame(joined(true))
    socket.frame(offer)
    cameras[0].fail('NotAllowedError')
    await flush()
    expect(call.mediaError).toMatch(/blocked/)
    expect(FakePC.all).toHaveLength(1)
    expect(FakePC.all[0].recvonly.sort()).toEqual(['audio', 'video'])
    expect(socket.sent.some((f) => f.type === 'signal')).toBe(true)
  })

  it('turns the camera off again when the call ended while it was opening', async () => {
    const call = useCallStore()
    const socket = ready()
    void call.answer(AP, ROOM)
    socket.frame({ type: 'room.ended', room_id: ROOM, reason: 'ended' })
    expect(call.phase).toBe('ended')
    cameras[0].resolve()
    await flush()
    expect(cameras[0].tracks.every((t) => t.stopped)).toBe(true)
    expect(call.localStream).toBeNull()
    expect(FakePC.all).toHaveLength(0)
  })

  it('frames for a call that is set up run at once, as before', async () => {
    const call = useCallStore()
    const socket = ready()
    void call.answer(AP, ROOM)
    cameras[0].resolve()
    await flush()
    socket.frame(joined(false)) // impolite: offers as soon as it knows the other one is there
    expect(FakePC.all).toHaveLength(1)
    await flush()
    expect(socket.sent.some((f) => f.type === 'signal'
      && (f.data as { description?: { type: string } }).description?.type === 'offer')).toBe(true)
  })
})

describe("the clinic's ICE transport policy", () => {
  const TURN = { urls: ['turn:turn.clinic.example:3478'], username: '1700000000:patient-1', credential: 'c2VjcmV0' }

  it('builds the connection relay-only when the server says relay, keeping it on a rebuild', async () => {
    const call = useCallStore()
    const socket = ready()
    void call.answer(AP, ROOM)
    socket.frame({ ...joined(true, 'relay'), ice_servers: [TURN] })
    socket.frame(offer)
    cameras[0].resolve()
    await flush()
    expect(FakePC.all).toHaveLength(1)
    expect(FakePC.all[0].config).toEqual({ iceServers: [TURN], iceTransportPolicy: 'relay' })

    // The other side reloaded (new DTLS identity): the new connection is relay-only too.
    FakePC.all[0].setRemoteDescription = async () => { throw new Error('fingerprint changed') }
    socket.frame({ type: 'signal', room_id: ROOM, data: { description: { type: 'offer', sdp: 'v=0 new identity' } } })
    await flush()
    expect(FakePC.all.length).toBeGreaterThan(1)
    expect(FakePC.all.at(-1)!.config).toEqual({ iceServers: [TURN], iceTransportPolicy: 'relay' })
  })

  it('lets the browser choose direct or relayed paths by default (all)', async () => {
    const call = useCallStore()
    const socket = ready()
    void call.answer(AP, ROOM)
    socket.frame(joined(true))
    cameras[0].resolve()
    await flush()
    expect(FakePC.all).toHaveLength(1)
    expect(FakePC.all[0].config.iceTransportPolicy).toBe('all')
  })
})

describe('a page opened on the call address (boot/earlyCall.ts)', () => {
  const address = { pathname: `/visits/${AP}/call`, search: `?room=${ROOM}` }

  it('joins behind auth and opens the camera before the app; the call store takes both over', async () => {
    expect(startEarlyCall(address)).toBe(true)
    const socket = latest()
    socket.open()
    expect(socket.types()).toEqual(['auth', 'room.join']) // not waiting for ready
    expect(navigator.mediaDevices.getUserMedia).toHaveBeenCalledTimes(1)
    socket.frame({ type: 'ready', user_id: ME })
    socket.frame(joined(true)) // held: the app's stores do not listen yet
    socket.frame(offer)

    const call = useCallStore()
    void call.answer(AP, ROOM)
    expect(ScriptedSocket.all).toHaveLength(1) // the same socket
    expect(socket.types()).toEqual(['auth', 'room.join']) // not joined twice
    expect(navigator.mediaDevices.getUserMedia).toHaveBeenCalledTimes(1) // the same camera
    useRealtimeStore().client.release()
    cameras[0].resolve()
    await flush()
    expect(FakePC.all).toHaveLength(1)
    expect(FakePC.all[0].added.sort()).toEqual(['audio', 'video'])
    expect(FakePC.all[0].remoteDescription?.sdp).toBe('v=0 their offer')
    expect(socket.sent.filter((f) => f.type === 'signal')).toHaveLength(1) // the answer
    expect(call.phase).toBe('in-call')
  })

  it('leaves the room and closes the camera when the app does not take the call', async () => {
    startEarlyCall(address)
    const socket = latest()
    socket.open()
    socket.frame({ type: 'ready', user_id: ME })
    dropEarlyCall()
    cameras[0].resolve()
    await flush()
    expect(socket.types()).toEqual(['auth', 'room.join', 'room.leave'])
    expect(cameras[0].tracks.every((t) => t.readyState === 'ended')).toBe(true)
  })
})
