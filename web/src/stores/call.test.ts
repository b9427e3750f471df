/**
 * Accepting a call: the join goes out at once and the camera opens alongside it; the peer
 * connection answers without waiting for the camera, on lines that send, and the camera's tracks
 * go on those lines once it is open (replaceTrack, no second offer or answer).
 * The test plays the server (scripted WebSocket), the camera (getUserMedia we resolve by hand)
 * and the browser's RTCPeerConnection (a recording fake: happy-dom has none).
 */
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { FakeStream, FakeTrack } from '@/testing/fakeMedia'
import { latest, ScriptedSocket } from '@/testing/scriptedSocket'
import { dropEarlyCall, startEarlyCall, takeEarlySocket } from '@/boot/earlyCall'
import { signInForTest } from '@/testing/session'
import { useCallStore } from './call'
import { useRealtimeStore } from './realtime'

const AP = 'appointment-1'
const ROOM = 'room-1'
const ME = 'patient-1'
const DOC = 'doctor-1'
const APPOINTMENT = {
  id: AP, doctor: { id: DOC, full_name: 'Dr Who' }, patient: { id: ME, full_name: 'Pat' },
}

/** A camera's video track, with the size the first picture reads (calls/firstPicture.ts). */
class CameraTrack extends FakeTrack {
  constructor() {
    super('video')
  }
  getSettings(): MediaTrackSettings {
    return { ...super.getSettings(), width: 1280, height: 720 }
  }
}

/** A sender: its track, its parameters, and what was done to it, in order. */
class FakeSender {
  log: string[] = []
  private params: { encodings: RTCRtpEncodingParameters[]; degradationPreference?: string } = { encodings: [{ active: true }] }
  constructor(public track: FakeTrack | null) {}
  async replaceTrack(track: FakeTrack | null): Promise<void> {
    this.track = track
    this.log.push(`track ${track?.kind ?? 'none'}`)
  }
  getParameters() {
    return structuredClone(this.params)
  }
  async setParameters(p: { encodings: RTCRtpEncodingParameters[] }): Promise<void> {
    this.params = structuredClone(p)
    this.log.push(`scale ${p.encodings[0]?.scaleResolutionDownBy ?? 1}`)
  }
}

/** A transceiver as the lines lookups in calls/peer.ts read it. */
class FakeTransceiver {
  mid: string | null = null
  currentDirection: RTCRtpTransceiverDirection | null = null
  receiver: { track: { kind: string } }
  sender: FakeSender
  constructor(readonly kind: 'audio' | 'video', public direction: RTCRtpTransceiverDirection, track: FakeTrack | null, readonly byAddTrack: boolean) {
    this.receiver = { track: { kind } }
    this.sender = new FakeSender(track)
  }
}

/** An offer with the doctor's three lines: microphone, camera and the screen (`m=` kind, `a=mid`). */
const OFFER_SDP = 'v=0\r\nm=audio\r\na=mid:0\r\nm=video\r\na=mid:1\r\nm=video\r\na=mid:2\r\n'

/**
 * Records what the store does to the connection; descriptions are plain objects. Applying an offer
 * makes its lines as a browser does: a line takes a transceiver made by addTrack, else a new
 * receive-only one (never one made by addTransceiver).
 */
class FakePC {
  static all: FakePC[] = []
  signalingState: RTCSignalingState = 'stable'
  connectionState: RTCPeerConnectionState = 'new'
  iceConnectionState: RTCIceConnectionState = 'new'
  localDescription: { type: string; sdp: string; toJSON(): unknown } | null = null
  remoteDescription: { type: string; sdp: string } | null = null
  transceivers: FakeTransceiver[] = []
  /** Each local description's lines as they were set: `kind direction` (the answer's, the offer's). */
  described: string[][] = []
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
  /** Kinds added with addTrack, and with addTransceiver (with their direction). */
  get added(): string[] {
    return this.transceivers.filter((t) => t.byAddTrack).map((t) => t.kind)
  }
  get recvonly(): string[] {
    return this.transceivers.filter((t) => !t.byAddTrack && t.mid === null && t.direction === 'recvonly').map((t) => t.kind)
  }
  /** The negotiated microphone and camera lines (the first of each kind in the description). */
  line(kind: 'audio' | 'video'): FakeTransceiver {
    return this.transceivers.filter((t) => t.kind === kind && t.mid !== null).sort((a, b) => Number(a.mid) - Number(b.mid))[0]!
  }
  addTrack(track: FakeTrack): void {
    this.transceivers.push(new FakeTransceiver(track.kind, 'sendrecv', track, true))
  }
  addTransceiver(kind: 'audio' | 'video', init?: { direction?: RTCRtpTransceiverDirection }): void {
    this.transceivers.push(new FakeTransceiver(kind, init?.direction ?? 'sendrecv', null, false))
  }
  async createOffer(): Promise<{ type: string; sdp: string }> {
    this.transceivers.forEach((t, i) => (t.mid ??= String(i)))
    const lines = this.transceivers.map((t) => `m=${t.kind}\r\na=mid:${t.mid}\r\n`)
    return { type: 'offer', sdp: `v=0\r\n${lines.join('')}` }
  }
  async setLocalDescription(d?: { type: string; sdp: string }): Promise<void> {
    const desc = d ?? { type: this.signalingState === 'have-remote-offer' ? 'answer' : 'offer', sdp: 'v=0 local' }
    this.localDescription = { ...desc, toJSON: () => ({ type: desc.type, sdp: desc.sdp }) }
    this.signalingState = desc.type === 'offer' ? 'have-local-offer' : 'stable'
    const negotiated = this.transceivers.filter((t) => t.mid !== null).sort((a, b) => Number(a.mid) - Number(b.mid))
    this.described.push(negotiated.map((t) => `${t.kind} ${t.direction}`))
    if (desc.type === 'answer') for (const t of negotiated) t.currentDirection = t.direction
  }
  async setRemoteDescription(d: { type: string; sdp: string }): Promise<void> {
    this.remoteDescription = d
    this.signalingState = d.type === 'offer' ? 'have-remote-offer' : 'stable'
    if (d.type !== 'offer') return
    for (const [, kind, mid] of d.sdp.matchAll(/m=(audio|video)\r\na=mid:(\S+)/g)) {
      if (this.transceivers.some((t) => t.mid === mid)) continue
      let t = this.transceivers.find((x) => x.byAddTrack && x.kind === kind && x.mid === null)
      if (!t) this.transceivers.push((t = new FakeTransceiver(kind as 'audio' | 'video', 'recvonly', null, false)))
      t.mid = mid!
    }
  }
  async addIceCandidate(): Promise<void> {}
  async getStats(): Promise<Map<string, unknown>> {
    return new Map()
  }
  getSenders(): FakeSender[] {
    return this.transceivers.map((t) => t.sender)
  }
  getTransceivers(): FakeTransceiver[] {
    return this.transceivers
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
    const tracks = [new FakeTrack('audio'), new CameraTrack()]
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
const offer = { type: 'signal', room_id: ROOM, data: { description: { type: 'offer', sdp: OFFER_SDP } } }
const descriptions = (socket: ScriptedSocket, type: string) => socket.sent.filter((f) => f.type === 'signal'
  && (f.data as { description?: { type: string } }).description?.type === type)

/** The callee answers, the room takes her in and the caller's offer arrives, while her camera opens. */
async function answeredAnOffer(): Promise<{ call: ReturnType<typeof useCallStore>, socket: ScriptedSocket }> {
  const call = useCallStore()
  const socket = ready()
  void call.answer(AP, ROOM)
  socket.frame(joined(true))
  socket.frame(offer)
  await flush()
  return { call, socket }
}

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
  signInForTest({ id: ME, email: 'p@x', full_name: 'Pat', role: 'patient' })
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

  it('answers while the camera is still opening, on lines that send, and sends the camera on them once open', async () => {
    const call = useCallStore()
    const socket = ready()
    void call.answer(AP, ROOM)
    socket.frame(joined(true))
    socket.frame(offer)
    socket.frame({ type: 'signal', room_id: ROOM, data: { candidate: { candidate: 'c1', sdpMid: '0' } } })
    await flush()
    expect(FakePC.all).toHaveLength(1) // not waiting for the camera
    const pc = FakePC.all[0]
    expect(pc.remoteDescription?.sdp).toBe(OFFER_SDP)
    expect(descriptions(socket, 'answer')).toHaveLength(1)
    // Microphone, camera and screen lines all answered sendrecv, so the tracks need no second answer.
    expect(pc.described).toEqual([['audio sendrecv', 'video sendrecv', 'video sendrecv']])
    expect(pc.line('audio').sender.track).toBeNull()
    expect(pc.line('video').sender.track).toBeNull()
    expect(call.polite).toBe(true)
    expect(call.otherPresent).toBe(true)
    expect(call.phase).toBe('in-call')

    cameras[0].resolve()
    await flush()
    const [mic, camera] = cameras[0].tracks
    expect(pc.line('audio').sender.track).toBe(mic)
    expect(pc.line('video').sender.track).toBe(camera)
    // The camera starts small (calls/firstPicture.ts) before its first frame reaches the encoder.
    expect(pc.line('video').sender.log).toEqual(['scale 4', 'track video'])
    expect(socket.sent.filter((f) => f.type === 'signal' && 'description' in (f.data as object))).toHaveLength(1)
    expect(FakePC.all).toHaveLength(1)
  })

  it('sends what the person chose while the camera opened: camera off and mute hold on the attached tracks', async () => {
    const { call, socket } = await answeredAnOffer()
    call.toggleCam()
    call.toggleMic()
    cameras[0].resolve()
    await flush()
    const pc = FakePC.all[0]
    expect(pc.line('video').sender.track?.enabled).toBe(false)
    expect(pc.line('audio').sender.track?.enabled).toBe(false)
    expect(socket.sent.filter((f) => f.type === 'media.state').at(-1)).toMatchObject({ audio: false, video: false })
    call.toggleCam()
    expect(pc.line('video').sender.track?.enabled).toBe(true)
  })

  it('tells the ringing card when the answer has gone out, without waiting for the camera', async () => {
    const call = useCallStore()
    const socket = ready()
    let sent = false
    void call.descriptionSent(60_000).then(() => (sent = true))
    void call.answer(AP, ROOM)
    socket.frame(joined(true))
    socket.frame(offer)
    await flush()
    expect(cameras[0].tracks.every((t) => !t.stopped)).toBe(true) // still opening
    expect(descriptions(socket, 'answer')).toHaveLength(1)
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

  it('keeps the order of the frames: joined then left leaves the other one absent', async () => {
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
    cameras[0].fail('NotAllowedError')
    await flush()
    socket.frame(joined(true))
    socket.frame(offer)
    await flush()
    expect(call.mediaError).toMatch(/blocked/)
    expect(FakePC.all).toHaveLength(1)
    expect(FakePC.all[0].described).toEqual([['audio recvonly', 'video recvonly', 'video recvonly']])
    expect(descriptions(socket, 'answer')).toHaveLength(1)
  })

  it('goes on without tracks when the camera fails after the answer, and shows why', async () => {
    const { call, socket } = await answeredAnOffer()
    cameras[0].fail('NotReadableError')
    await flush()
    expect(call.mediaError).toMatch(/in use by another app/)
    const pc = FakePC.all[0]
    expect(pc.line('video').sender.track).toBeNull()
    expect(descriptions(socket, 'answer')).toHaveLength(1)
    expect(call.phase).toBe('in-call')
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

  it('builds with the tracks when the camera opened before the room took us in', async () => {
    const call = useCallStore()
    const socket = ready()
    void call.answer(AP, ROOM)
    cameras[0].resolve()
    await flush()
    socket.frame(joined(false)) // impolite: offers as soon as it knows the other one is there
    expect(FakePC.all).toHaveLength(1)
    await flush()
    expect(FakePC.all[0].added.sort()).toEqual(['audio', 'video'])
    expect(descriptions(socket, 'offer')).toHaveLength(1)
  })

  it('the offering side (a doctor reloading into the call) offers before its camera opens, then sends it without offering again', async () => {
    sessionStorage.setItem('televisit.user', JSON.stringify({ id: DOC, email: 'd@x', full_name: 'Dr Who', role: 'doctor' }))
    setActivePinia(createPinia())
    const call = useCallStore()
    const socket = ready()
    void call.answer(AP, ROOM)
    socket.frame({ ...joined(false), participants: [{ user_id: DOC, left_at: null }, { user_id: ME, left_at: null }] })
    await flush()
    const pc = FakePC.all[0]
    expect(descriptions(socket, 'offer')).toHaveLength(1)
    // Microphone and camera send from this first offer, with no track yet; the screen line after them.
    expect(pc.described).toEqual([['audio sendrecv', 'video sendrecv', 'video sendrecv']])
    expect(pc.line('video').sender.track).toBeNull()

    cameras[0].resolve()
    await flush()
    expect(pc.line('audio').sender.track).toBe(cameras[0].tracks[0])
    expect(pc.line('video').sender.track).toBe(cameras[0].tracks[1])
    expect(pc.transceivers[2]!.sender.track).toBeNull() // the screen line stays empty
    expect(descriptions(socket, 'offer')).toHaveLength(1) // no renegotiation
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
    await flush()
    // The held offer is answered at once, the camera still opening.
    expect(FakePC.all).toHaveLength(1)
    expect(FakePC.all[0].remoteDescription?.sdp).toBe(OFFER_SDP)
    expect(socket.sent.filter((f) => f.type === 'signal')).toHaveLength(1) // the answer
    expect(call.phase).toBe('in-call')
    cameras[0].resolve()
    await flush()
    expect(FakePC.all[0].line('video').sender.track).toBe(cameras[0].tracks[1])
    expect(socket.sent.filter((f) => f.type === 'signal')).toHaveLength(1) // still one answer
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
