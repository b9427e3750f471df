/**
 * One RTCPeerConnection with perfect negotiation. Signaling messages are processed one at a time
 * (a candidate arriving during setRemoteDescription would fail otherwise). When a remote description
 * cannot be applied (the other side reloaded: new DTLS identity), the connection is rebuilt.
 *
 * Besides the microphone and the camera, every connection negotiates a second video line from the
 * start, empty until someone shares a screen: the offerer adds it (sendrecv, no track) and the
 * answerer opens it for sending too. A shared screen then goes on it with `replaceTrack`, beside the
 * camera, with no renegotiation, from either side (only the doctor ever offers).
 *
 * A connection may be made while the camera and microphone are still opening (`localComing`): it
 * negotiates their lines for sending all the same (the offerer adds them sendrecv with no track,
 * the answerer opens the offer's lines for sending), and `attach` puts the tracks on them with
 * `replaceTrack` once they are open, again with no renegotiation. So the answer does not wait for
 * the camera: on a page opened straight into a call the camera opens behind the app's own work,
 * 150-470 ms after it was asked for (docs/benchmarks.md, "Cold: page load to first frame").
 */
import type { IceServer } from '@/api/frames'
import { fastFirstPicture, startTrackSmall } from './firstPicture'
import { isOfferCollision, shouldIgnoreOffer } from './negotiation'
import { health, IceRecovery } from './recovery'

export type SignalData =
  | { description: RTCSessionDescriptionInit }
  | { candidate: RTCIceCandidateInit | null }

const SDP_TYPES: readonly RTCSdpType[] = ['offer', 'answer', 'pranswer', 'rollback']

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
const isSdpType = (value: unknown): value is RTCSdpType => SDP_TYPES.some((t) => t === value)

const stringOrNull = (value: unknown): value is string | null => value === null || typeof value === 'string'

/**
 * The other side's `signal` data as WebRTC takes it, or null when it is neither a description nor
 * a candidate. The server relays `data` without reading it, so it is read here, field by field.
 */
export function readSignal(data: Record<string, unknown>): SignalData | null {
  const { description, candidate } = data
  if (isRecord(description)) {
    const { type, sdp } = description
    if (!isSdpType(type)) return null
    return { description: typeof sdp === 'string' ? { type, sdp } : { type } }
  }
  if (candidate === null) return { candidate: null }
  if (!isRecord(candidate)) return null
  const init: RTCIceCandidateInit = {}
  const { candidate: line, sdpMid, sdpMLineIndex, usernameFragment } = candidate
  if (typeof line === 'string') init.candidate = line
  if (stringOrNull(sdpMid)) init.sdpMid = sdpMid
  if (typeof sdpMLineIndex === 'number' || sdpMLineIndex === null) init.sdpMLineIndex = sdpMLineIndex
  if (stringOrNull(usernameFragment)) init.usernameFragment = usernameFragment
  return { candidate: init }
}

/**
 * ICE servers from the server (REST or `room.joined`) as RTCPeerConnection takes them: absent
 * credentials are left out, not passed as null (which WebIDL would turn into the string "null").
 */
export function toRtcIceServers(servers: readonly IceServer[]): RTCIceServer[] {
  return servers.map(({ urls, username, credential }) => ({
    urls,
    ...(username != null ? { username } : {}),
    ...(credential != null ? { credential } : {}),
  }))
}

/** The DTLS certificate fingerprint of an SDP: it changes only with a new peer connection. */
export function fingerprint(sdp: string | undefined): string | null {
  return sdp?.match(/^a=fingerprint:(\S+ \S+)/m)?.[1] ?? null
}

/** The camera's bitrate cap while a screen is shared beside it (a 320x240 picture needs about this). */
export const THUMBNAIL_BPS = 150_000

/** The media lines' ids (`a=mid`) in the order of the negotiated description. */
function lineOrder(pc: RTCPeerConnection): string[] {
  const sdp = pc.remoteDescription?.sdp ?? pc.localDescription?.sdp ?? ''
  return [...sdp.matchAll(/^a=mid:(\S+)/gm)].map((m) => m[1]!)
}

/**
 * A kind's transceivers in the order of the description's media lines; before any description (or
 * when none of them is in it yet), in the order they were made.
 */
function linesOf(pc: RTCPeerConnection, kind: 'audio' | 'video'): RTCRtpTransceiver[] {
  const all = pc.getTransceivers().filter((t) => t.receiver.track.kind === kind && t.currentDirection !== 'stopped')
  const order = lineOrder(pc)
  const lines = all.filter((t) => t.mid !== null && order.includes(t.mid))
  return lines.length ? lines.sort((x, y) => order.indexOf(x.mid!) - order.indexOf(y.mid!)) : all
}

/** The microphone's line, or the camera's (the first video line: the offerer adds the screen's after it). */
export function mainTransceiver(pc: RTCPeerConnection, kind: 'audio' | 'video'): RTCRtpTransceiver | undefined {
  return linesOf(pc, kind)[0]
}

/** The screen line: the second video line (absent when the offer had only one). */
export function screenTransceiver(pc: RTCPeerConnection): RTCRtpTransceiver | undefined {
  return linesOf(pc, 'video')[1]
}

export interface PeerEvents {
  send(data: SignalData): void
  remoteStream(stream: MediaStream): void
  /** The other side's screen line (its track, silent until they share), or null before it is negotiated. */
  remoteScreen?(stream: MediaStream | null): void
  state(state: RTCPeerConnectionState, ice: RTCIceConnectionState): void
  /** Before an ICE restart: fresh TURN credentials onto the connection (bounded wait). */
  beforeRestart?(): Promise<unknown>
}

export class Peer {
  pc!: RTCPeerConnection
  hasOffered = false
  private makingOffer = false
  private ignoreOffer = false
  private isSettingRemoteAnswerPending = false
  private chain: Promise<void> = Promise.resolve()
  private restartPending = false
  private rebuilds = 0
  private remote = new MediaStream()
  private remoteScreen = new MediaStream()
  private checkingTimer: ReturnType<typeof setTimeout> | null = null
  /** Cancel the camera's return to full size (calls/firstPicture.ts), one per start. */
  private releaseFirstPicture: (() => void)[] = []
  /** ICE restarts while the connection is down (calls/recovery.ts). */
  readonly recovery = new IceRecovery(() => void this.restartIce())

  constructor(
    public polite: boolean,
    private iceServers: RTCIceServer[],
    private local: MediaStream | null,
    private events: PeerEvents,
    /** The server's TELEVISIT_ICE_TRANSPORT_POLICY: `relay` gathers TURN candidates only. */
    private iceTransportPolicy: RTCIceTransportPolicy = 'all',
    /** The camera and microphone are being opened: their lines send, their tracks come by `attach`. */
    private localComing = false,
  ) {
    this.build()
  }

  private build(): void {
    // A rebuilt connection keeps the credentials refreshed onto the old one (calls/iceRefresh.ts).
    const old = this.pc?.getConfiguration()
    const pc = new RTCPeerConnection({
      iceServers: old?.iceServers ?? this.iceServers,
      iceTransportPolicy: old?.iceTransportPolicy ?? this.iceTransportPolicy,
    })
    this.pc = pc
    this.remote = new MediaStream()
    this.remoteScreen = new MediaStream()
    this.events.remoteStream(this.remote)
    this.events.remoteScreen?.(null)
    for (const track of this.local?.getTracks() ?? []) pc.addTrack(track, this.local!)
    if (!this.local && this.localComing) {
      // The offerer's microphone and camera lines, sending from the first offer, tracks to come.
      // (An answerer adds none: only lines made by addTrack would take the offer's, see `answer`.)
      if (!this.polite) {
        pc.addTransceiver('audio', { direction: 'sendrecv' })
        pc.addTransceiver('video', { direction: 'sendrecv' })
      }
    } else if (!this.local) {
      pc.addTransceiver('audio', { direction: 'recvonly' })
      pc.addTransceiver('video', { direction: 'recvonly' })
    }
    this.releaseFirstPicture = [fastFirstPicture(pc)]
    pc.ontrack = (ev) => {
      if (pc !== this.pc) return
      if (ev.transceiver === screenTransceiver(pc)) {
        if (!this.remoteScreen.getTracks().includes(ev.track)) this.remoteScreen.addTrack(ev.track)
        this.events.remoteScreen?.(this.remoteScreen)
        return
      }
      if (!this.remote.getTracks().includes(ev.track)) this.remote.addTrack(ev.track)
      this.events.remoteStream(this.remote)
    }
    pc.onicecandidate = (ev) => {
      if (pc === this.pc && ev.candidate) this.events.send({ candidate: ev.candidate.toJSON() })
    }
    pc.onconnectionstatechange = () => this.stateChanged(pc)
    pc.oniceconnectionstatechange = () => this.stateChanged(pc)
    pc.onsignalingstatechange = () => {
      if (pc === this.pc && pc.signalingState === 'stable' && this.restartPending) {
        this.restartPending = false
        void this.offer(true)
      }
    }
  }

  private stateChanged(pc: RTCPeerConnection): void {
    if (pc !== this.pc) return
    this.events.state(pc.connectionState, pc.iceConnectionState)
    if (pc.connectionState === 'connected') this.rebuilds = 0
    this.recovery.update(health(pc.connectionState, pc.iceConnectionState))
  }

  /**
   * The connection is down: fresh TURN credentials first (the old ones may have expired, or the
   * TURN server restarted), then the impolite side offers with an ICE restart. The polite side
   * only refreshes: the other side's restart offer gathers its new candidates.
   */
  private async restartIce(): Promise<void> {
    const pc = this.pc
    try {
      await this.events.beforeRestart?.()
    } catch {
      /* restart with the credentials we have */
    }
    if (pc !== this.pc || pc.connectionState === 'closed' || this.polite) return
    if (pc.connectionState === 'connected') return // it healed meanwhile
    await this.offer(true)
  }

  /** Impolite side only: make an offer (restarting ICE when asked). */
  async offer(iceRestart = false): Promise<void> {
    if (this.polite) return
    const pc = this.pc
    if (pc.signalingState !== 'stable' || this.makingOffer) {
      this.restartPending = true
      return
    }
    try {
      this.makingOffer = true
      // The screen line, in the first offer of every connection (see the top of this file).
      if (!screenTransceiver(pc)) pc.addTransceiver('video', { direction: 'sendrecv' })
      const offer = await pc.createOffer({ iceRestart })
      if (pc !== this.pc || pc.signalingState !== 'stable') return
      await pc.setLocalDescription(offer)
      this.hasOffered = true
      this.events.send({ description: pc.localDescription!.toJSON() })
      this.watchForStall(pc)
    } catch (err) {
      console.warn('offer failed', err)
    } finally {
      this.makingOffer = false
    }
  }

  /** Start over with a fresh connection (the other side is a new peer connection). */
  async rebuild(): Promise<void> {
    this.closePc()
    this.hasOffered = false
    this.makingOffer = false
    this.restartPending = false
    this.build()
    if (!this.polite) await this.offer(false)
  }

  handle(data: SignalData): void {
    this.chain = this.chain.then(() => this.process(data)).catch((err) => console.warn('signal failed', err))
  }

  private async process(data: SignalData): Promise<void> {
    if ('description' in data) {
      await this.applyDescription(data.description)
    } else if (data.candidate) {
      try {
        await this.pc.addIceCandidate(data.candidate)
      } catch (err) {
        if (!this.ignoreOffer) console.warn('candidate refused', err)
      }
    }
  }

  private async applyDescription(description: RTCSessionDescriptionInit): Promise<void> {
    const type = description.type
    const ctx = {
      polite: this.polite,
      makingOffer: this.makingOffer,
      signalingState: this.pc.signalingState,
      isSettingRemoteAnswerPending: this.isSettingRemoteAnswerPending,
    }
    if (this.fromNewPeer(description)) {
      // The other side reloaded: its offer or answer comes from a new peer connection (another
      // DTLS certificate). Start over on a fresh connection instead of waiting for ICE to fail.
      await this.recover(description)
      return
    }
    this.ignoreOffer = shouldIgnoreOffer(type, ctx)
    if (this.ignoreOffer) return
    if (type === 'answer' && this.pc.signalingState !== 'have-local-offer') return // stale answer
    try {
      this.isSettingRemoteAnswerPending = type === 'answer'
      if (isOfferCollision(type, ctx) && this.polite) await this.pc.setLocalDescription({ type: 'rollback' })
      await this.pc.setRemoteDescription(description)
    } catch (err) {
      console.warn('remote description refused; rebuilding', err)
      await this.recover(description)
      return
    } finally {
      this.isSettingRemoteAnswerPending = false
    }
    if (type === 'offer') await this.answer()
  }

  private fromNewPeer(description: RTCSessionDescriptionInit): boolean {
    const known = fingerprint(this.pc.remoteDescription?.sdp)
    const incoming = fingerprint(description.sdp)
    return known !== null && incoming !== null && known !== incoming
  }

  private async answer(): Promise<void> {
    // The offer's screen line arrives receive-only on our side: open it for sending, so that a
    // screen shared from here later needs no offer of ours. The same for the microphone and
    // camera lines when their tracks are still to come (`localComing`: no addTrack took them).
    const pc = this.pc
    if (this.local || this.localComing) {
      for (const line of [mainTransceiver(pc, 'audio'), mainTransceiver(pc, 'video'), screenTransceiver(pc)]) {
        if (line?.direction === 'recvonly') line.direction = 'sendrecv'
      }
    }
    await pc.setLocalDescription()
    this.events.send({ description: pc.localDescription!.toJSON() })
    await this.fillSenders()
  }

  /**
   * The camera and microphone are open (or, with null, failed to open): their tracks go on the
   * lines negotiated for them, after any description being applied (signals run one at a time).
   */
  attach(stream: MediaStream | null): void {
    this.localComing = false
    if (!stream) return
    this.local = stream
    this.chain = this.chain.then(() => this.fillSenders()).catch((err) => console.warn('tracks not attached', err))
  }

  /**
   * Our tracks onto the microphone and camera lines that have none yet (made before the camera
   * opened), the camera first and started small (calls/firstPicture.ts) before its first frame.
   */
  private async fillSenders(): Promise<void> {
    const pc = this.pc
    const local = this.local
    if (!local) return
    for (const kind of ['video', 'audio'] as const) {
      const sender = mainTransceiver(pc, kind)?.sender
      const track = kind === 'video' ? local.getVideoTracks()[0] : local.getAudioTracks()[0]
      if (!sender || sender.track || !track) continue
      if (kind === 'video') this.releaseFirstPicture.push(await startTrackSmall(pc, sender, track))
      if (pc !== this.pc) return
      if (!sender.track) await sender.replaceTrack(track)
    }
  }

  private async recover(description: RTCSessionDescriptionInit): Promise<void> {
    if (this.rebuilds++ > 5) return
    if (description.type === 'offer') {
      this.closePc()
      this.build()
      await this.pc.setRemoteDescription(description)
      await this.answer()
    } else {
      await this.rebuild()
    }
  }

  /** Chromium sometimes gathers no candidates after glare; restart if checking never ends. */
  private watchForStall(pc: RTCPeerConnection): void {
    if (this.checkingTimer) clearTimeout(this.checkingTimer)
    this.checkingTimer = setTimeout(() => {
      if (pc !== this.pc) return
      if (['new', 'checking'].includes(pc.iceConnectionState)) void this.offer(true)
    }, 10_000)
  }

  /** The microphone's or the camera's track on the connection (never the screen line). */
  async replaceTrack(kind: 'audio' | 'video', track: MediaStreamTrack | null): Promise<void> {
    await mainTransceiver(this.pc, kind)?.sender.replaceTrack(track)
  }

  /**
   * A shared screen (or null: sharing stopped) onto the screen line, beside the camera. False when
   * this connection has no screen line that sends (an older app on the other side answered it
   * receive-only): the caller then sends the screen in the camera's place.
   */
  async sendScreen(track: MediaStreamTrack | null): Promise<boolean> {
    const slot = screenTransceiver(this.pc)
    if (!slot || !(slot.currentDirection === 'sendrecv' || slot.currentDirection === 'sendonly')) return false
    await slot.sender.replaceTrack(track)
    await this.thumbnailCamera(track !== null).catch((err: unknown) => console.warn('camera size not changed', err))
    return true
  }

  /**
   * While a screen is shared beside it, the camera is a thumbnail: half the width and height and at
   * most {@link THUMBNAIL_BPS}, so screen and camera together fit an uplink that carried the camera
   * alone. Only these two encoding parameters change (audio only's `active` stays as it is).
   */
  private async thumbnailCamera(on: boolean): Promise<void> {
    const sender = mainTransceiver(this.pc, 'video')?.sender
    const params = sender?.getParameters()
    if (!sender || !params?.encodings?.length) return
    params.encodings = params.encodings.map(({ maxBitrate: _cap, ...rest }) => (on
      ? { ...rest, maxBitrate: THUMBNAIL_BPS, scaleResolutionDownBy: 2 }
      : { ...rest, scaleResolutionDownBy: 1 }))
    await sender.setParameters(params)
  }

  setLocal(stream: MediaStream): void {
    this.local = stream
  }

  private closePc(): void {
    if (this.checkingTimer) clearTimeout(this.checkingTimer)
    for (const release of this.releaseFirstPicture) release()
    this.releaseFirstPicture = []
    this.recovery.reset()
    const pc = this.pc
    pc.ontrack = pc.onicecandidate = pc.onconnectionstatechange = null
    pc.oniceconnectionstatechange = pc.onsignalingstatechange = null
    pc.close()
  }

  close(): void {
    this.closePc()
  }
}
