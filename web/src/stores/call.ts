/**
 * The video visit in progress: media, the room, the peer connection and what the screen shows.
 * The store outlives route changes inside a visit (pre-call check → call) and is reset after it.
 */
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import { api, call, errorMessage, type Appointment } from '@/api/client'
import {
  facingOf, listDevices, nextCamera, openCamera, openLocalMedia, openMicrophone, stopStream,
  type DeviceChoice, type Devices, type MediaError,
} from '@/calls/media'
import { watchIceRefresh } from '@/calls/iceRefresh'
import { planOffer, type Quality } from '@/calls/negotiation'
import { Peer, type SignalData } from '@/calls/peer'
import { watchQuality } from '@/calls/quality'
import { keepAwake } from '@/calls/wakeLock'
import type { Frame } from '@/realtime/signaling'
import { useRealtimeStore } from './realtime'
import { useSessionStore } from './session'

export type Phase = 'idle' | 'starting' | 'ringing' | 'waiting' | 'in-call' | 'ended'

interface Participant { user_id: string; left_at: string | null }

const CHOICE_KEY = 'televisit.devices'

const END_MESSAGES: Record<string, string> = {
  ended: 'The visit has ended.',
  declined: 'The call was declined.',
  'unused-timeout': 'Nobody answered, so the call has ended.',
  'empty-timeout': 'The call ended because nobody was in it.',
  'max-duration': 'The call reached its maximum length and has ended.',
  'duplicate-identity': 'You joined this visit from another window or device, so it continues there.',
  room_ended: 'This call has already ended.',
  room_not_found: 'This call is not available any more.',
}

function loadChoice(): DeviceChoice {
  try {
    return JSON.parse(localStorage.getItem(CHOICE_KEY) ?? '{}') as DeviceChoice
  } catch {
    return {}
  }
}

export const useCallStore = defineStore('call', () => {
  const realtime = useRealtimeStore()
  const session = useSessionStore()

  const phase = ref<Phase>('idle')
  const appointment = ref<Appointment | null>(null)
  const roomId = ref<string | null>(null)
  const polite = ref(true)
  const otherPresent = ref(false)
  const everConnected = ref(false)
  const localStream = shallowRef<MediaStream | null>(null)
  const remoteStream = shallowRef<MediaStream | null>(null)
  const micOn = ref(true)
  const camOn = ref(true)
  const remoteAudio = ref(true)
  const remoteVideo = ref(true)
  const peerState = ref<RTCPeerConnectionState>('new')
  const quality = ref<Quality>('unknown')
  const mediaError = ref<string | null>(null)
  const error = ref<string | null>(null)
  const endMessage = ref<string | null>(null)
  const devices = ref<Devices>({ cameras: [], microphones: [] })
  const choice = ref<DeviceChoice>(loadChoice())
  const cameraId = ref<string | undefined>()
  const micId = ref<string | undefined>()
  const switching = ref(false)

  let peer: Peer | null = null
  let iceServers: RTCIceServer[] = []
  let stopAwake: (() => void) | null = null
  let stopQuality: (() => void) | null = null
  /** The camera and microphone being opened, if they are, and the room frames waiting for them. */
  let opening: Promise<boolean> | null = null
  let waiting: (() => void)[] = []
  /** Bumped by teardown, so media that opens after the visit ended is stopped, not kept. */
  let visit = 0

  const me = computed(() => session.user?.id)
  const other = computed(() => {
    const a = appointment.value
    if (!a) return null
    return session.user?.role === 'doctor' ? a.patient : a.doctor
  })
  const otherName = computed(() => other.value?.full_name ?? 'The other person')

  /** One line for the status bar (read out by screen readers). */
  const status = computed(() => {
    if (phase.value === 'ended') return endMessage.value ?? 'The visit has ended.'
    if (realtime.state !== 'ready' && phase.value !== 'idle') return 'Reconnecting to Televisit…'
    if (phase.value === 'starting') return 'Starting the call…'
    if (phase.value === 'ringing') return `Calling ${otherName.value}…`
    if (phase.value === 'waiting') return `Waiting for ${otherName.value} to join…`
    if (!otherPresent.value) return `${otherName.value} lost the connection. Waiting for them to come back…`
    if (peerState.value === 'connected') {
      return quality.value === 'poor' ? 'Connected — poor network, video may stutter' : 'Connected'
    }
    if (peerState.value === 'disconnected' || peerState.value === 'failed') return 'Reconnecting video…'
    return 'Connecting…'
  })
  const connection = computed(() => {
    if (phase.value === 'ended') return 'ended'
    if (realtime.state !== 'ready') return 'reconnecting'
    if (peerState.value === 'connected') return quality.value === 'poor' ? 'poor' : 'connected'
    if (peerState.value === 'disconnected' || peerState.value === 'failed') return 'reconnecting'
    return 'connecting'
  })
  const canSwitchCamera = computed(() => devices.value.cameras.length > 1)

  async function refreshDevices(): Promise<void> {
    devices.value = await listDevices()
    const stream = localStream.value
    cameraId.value = stream?.getVideoTracks()[0]?.getSettings().deviceId
    micId.value = stream?.getAudioTracks()[0]?.getSettings().deviceId
  }

  function rememberChoice(update: DeviceChoice): void {
    choice.value = { ...choice.value, ...update }
    localStorage.setItem(CHOICE_KEY, JSON.stringify(choice.value))
  }

  /**
   * Open the camera and microphone (once per visit); failures become a message, not an exception.
   * A second call while they open shares the first one's promise. The device list is refreshed in
   * the background: a call must not wait for enumerateDevices (it only feeds the pickers and the
   * camera switch button).
   */
  function prepareMedia(): Promise<boolean> {
    if (localStream.value?.active) return Promise.resolve(true)
    if (opening) return opening
    opening = openMedia(visit)
    return opening
  }

  async function openMedia(forVisit: number): Promise<boolean> {
    mediaError.value = null
    let stream: MediaStream
    try {
      stream = await openLocalMedia(choice.value)
    } catch (err) {
      if (forVisit !== visit) return false
      mediaError.value = errorMessage(err)
      mediaSettled()
      return false
    }
    if (forVisit !== visit) {
      stopStream(stream) // the visit ended while the camera opened
      return false
    }
    localStream.value = stream
    applyEnabled()
    mediaSettled()
    void refreshDevices().catch(() => {})
    return true
  }

  /**
   * Run the room frames that waited for the camera, in their order, right away: before the screen
   * re-renders with the self-view, so the peer connection starts first.
   */
  function mediaSettled(): void {
    const run = waiting
    opening = null
    waiting = []
    for (const fn of run) {
      try {
        fn()
      } catch (err) {
        console.warn('room frame failed', err)
      }
    }
  }

  /**
   * Run `fn` once the camera and microphone are open (or failed to): at once when they are not
   * being opened. The peer connection must carry our tracks from the start (the polite side would
   * otherwise answer without them).
   */
  function whenMedia(fn: () => void): void {
    if (opening) waiting.push(fn)
    else fn()
  }

  function applyEnabled(): void {
    for (const t of localStream.value?.getAudioTracks() ?? []) t.enabled = micOn.value
    for (const t of localStream.value?.getVideoTracks() ?? []) t.enabled = camOn.value
  }

  async function load(appointmentId: string): Promise<void> {
    if (appointment.value?.id === appointmentId) return
    appointment.value = await call(
      api.GET('/api/v1/appointments/{appointment_id}', { params: { path: { appointment_id: appointmentId } } }),
    )
  }

  function resetForVisit(): void {
    phase.value = 'idle'
    roomId.value = null
    otherPresent.value = false
    everConnected.value = false
    endMessage.value = null
    error.value = null
    remoteAudio.value = true
    remoteVideo.value = true
    peerState.value = 'new'
    quality.value = 'unknown'
  }

  /** Caller: start (or pick up the live) room, then join it; the camera opens meanwhile. */
  async function start(appointmentId: string): Promise<void> {
    resetForVisit()
    phase.value = 'starting'
    void prepareMedia()
    try {
      await load(appointmentId)
      const started = await call(
        api.POST('/api/v1/appointments/{appointment_id}/call', { params: { path: { appointment_id: appointmentId } } }),
      )
      iceServers = started.ice_servers as RTCIceServer[]
      const othersIn = started.room.participants.some((p) => p.user_id !== me.value && !p.left_at)
      join(started.room.id, othersIn ? 'waiting' : 'ringing')
    } catch (err) {
      phase.value = 'idle'
      error.value = errorMessage(err)
    }
  }

  /**
   * Callee (accepting a ring) or anyone rejoining: join a known room. The join goes out first, the
   * camera and the appointment are fetched alongside it (the room frames wait for the camera, see
   * whenMedia): in series they made accepting a call about 1.3x slower than a bare page pair.
   */
  async function answer(appointmentId: string, room: string): Promise<void> {
    resetForVisit()
    phase.value = 'starting'
    join(room, 'waiting')
    void prepareMedia()
    try {
      await load(appointmentId)
    } catch (err) {
      if (roomId.value !== room || !active()) return // hung up or left meanwhile
      leave()
      error.value = errorMessage(err)
    }
  }

  const active = () => phase.value !== 'ended' && phase.value !== 'idle'

  function join(room: string, next: Phase): void {
    roomId.value = room
    phase.value = next
    realtime.client.send({ type: 'room.join', room_id: room, ref: 'room.join' })
    stopAwake = keepAwake()
    stopQuality = watchQuality(() => peer?.pc ?? null, (q) => (quality.value = q))
  }

  function sendSignal(data: SignalData): void {
    if (roomId.value) realtime.client.sendNow({ type: 'signal', room_id: roomId.value, data })
  }

  function sendMediaState(): void {
    if (!roomId.value) return
    realtime.client.sendNow({ type: 'media.state', room_id: roomId.value, audio: micOn.value, video: camOn.value })
  }

  function ensurePeer(): Peer {
    if (!peer) {
      peer = new Peer(polite.value, iceServers, localStream.value, {
        send: sendSignal,
        remoteStream: (s) => (remoteStream.value = s),
        state: (s) => {
          peerState.value = s
          if (s === 'connected') everConnected.value = true
        },
      })
    }
    return peer
  }

  function maybeOffer(): void {
    const p = ensurePeer()
    const plan = planOffer({
      polite: polite.value, otherPresent: otherPresent.value, hasOffered: p.hasOffered,
      connectionState: p.pc.connectionState,
    })
    if (plan === 'offer') void p.offer(false)
    else if (plan === 'ice-restart') void p.offer(true)
    else if (plan === 'rebuild') void p.rebuild()
  }

  function otherJoined(): void {
    otherPresent.value = true
    if (phase.value === 'ringing' || phase.value === 'waiting') phase.value = 'in-call'
    sendMediaState()
    maybeOffer()
  }

  function ended(reason: string, byMe = false): void {
    if (phase.value === 'ended') return
    phase.value = 'ended'
    endMessage.value = byMe ? 'You ended the visit.'
      : reason === 'declined' ? `${otherName.value} declined the call.`
        : END_MESSAGES[reason] ?? 'The visit has ended.'
    teardown()
  }

  function teardown(): void {
    visit += 1
    opening = null
    waiting = []
    stopAwake?.()
    stopQuality?.()
    stopAwake = stopQuality = null
    peer?.close()
    peer = null
    stopStream(localStream.value)
    localStream.value = null
    remoteStream.value = null
    peerState.value = 'closed'
  }

  async function hangUp(): Promise<void> {
    const room = roomId.value
    ended('ended', true)
    if (!room) return
    try {
      await call(api.POST('/api/v1/rooms/{room_id}/end', { params: { path: { room_id: room } } }))
    } catch (err) {
      // Already ended is fine; anything else: the room ends by itself when both have left.
      realtime.client.sendNow({ type: 'room.leave', room_id: room })
      if ((err as { status?: number }).status === 0) endMessage.value = 'You left the visit.'
    }
  }

  /** Leaving the call screen without hanging up (navigation): leave the room, free the camera. */
  function leave(): void {
    if (roomId.value && phase.value !== 'ended' && phase.value !== 'idle') {
      realtime.client.sendNow({ type: 'room.leave', room_id: roomId.value })
    }
    teardown()
    phase.value = 'idle'
    roomId.value = null
  }

  function toggleMic(): void {
    micOn.value = !micOn.value
    applyEnabled()
    sendMediaState()
  }

  function toggleCam(): void {
    camOn.value = !camOn.value
    applyEnabled()
    sendMediaState()
  }

  /**
   * Put ``track`` in place of the local one of its kind, sending it without renegotiation. False
   * (and the track stopped) when the call has no local media any more, e.g. it ended meanwhile.
   */
  async function swapTrack(kind: 'audio' | 'video', track: MediaStreamTrack): Promise<boolean> {
    const stream = localStream.value
    if (!stream) {
      track.stop()
      return false
    }
    track.enabled = kind === 'video' ? camOn.value : micOn.value
    await peer?.replaceTrack(kind, track)
    for (const old of kind === 'video' ? stream.getVideoTracks() : stream.getAudioTracks()) {
      stream.removeTrack(old)
      old.stop()
    }
    stream.addTrack(track)
    // A new MediaStream object so the preview element picks the new track up.
    localStream.value = new MediaStream(stream.getTracks())
    peer?.setLocal(localStream.value)
    return true
  }

  async function useVideoTrack(track: MediaStreamTrack): Promise<void> {
    if (await swapTrack('video', track)) cameraId.value = track.getSettings().deviceId
  }

  /**
   * Open the next camera while the current one still runs, so the sender never holds an ended
   * track (Chromium's encoder then stalled after replaceTrack). Phones that cannot run two
   * cameras at once refuse with "busy": then stop the current one first and try again.
   */
  async function openCameraBeside(current: MediaStreamTrack | undefined, target: DeviceChoice): Promise<MediaStreamTrack> {
    try {
      return await openCamera(target)
    } catch (err) {
      if (!current || (err as MediaError).kind !== 'busy') throw err
      current.stop()
      return openCamera(target)
    }
  }

  /** Front ↔ back on phones (facingMode); the next camera on desktops. No renegotiation: replaceTrack. */
  async function switchCamera(): Promise<void> {
    if (switching.value) return
    switching.value = true
    mediaError.value = null
    try {
      const current = localStream.value?.getVideoTracks()[0]
      const facing = facingOf(current)
      let target: DeviceChoice
      if (facing) target = { facingMode: facing === 'user' ? 'environment' : 'user' }
      else target = { cameraId: nextCamera(devices.value.cameras, cameraId.value)?.deviceId }
      const track = await openCameraBeside(current, target)
      await useVideoTrack(track)
      rememberChoice({ cameraId: cameraId.value, facingMode: facingOf(track) })
    } catch (err) {
      mediaError.value = errorMessage(err)
    } finally {
      switching.value = false
    }
  }

  async function selectCamera(id: string): Promise<void> {
    mediaError.value = null
    try {
      await useVideoTrack(await openCameraBeside(localStream.value?.getVideoTracks()[0], { cameraId: id }))
      rememberChoice({ cameraId: id })
    } catch (err) {
      mediaError.value = errorMessage(err)
    }
  }

  async function selectMicrophone(id: string): Promise<void> {
    mediaError.value = null
    if (!localStream.value) return
    try {
      if (!(await swapTrack('audio', await openMicrophone(id)))) return
      micId.value = id
      rememberChoice({ micId: id })
    } catch (err) {
      mediaError.value = errorMessage(err)
    }
  }

  const inRoom = (frame: Frame) => roomId.value !== null && frame.room_id === roomId.value && phase.value !== 'ended'
  const client = realtime.client

  const joinedHere = (frame: Frame) => {
    const room = frame.room as { id: string } | undefined
    return roomId.value !== null && room?.id === roomId.value && phase.value !== 'ended'
  }

  client.on('room.joined', (frame) => {
    if (joinedHere(frame)) whenMedia(() => joinedRoom(frame))
  })
  function joinedRoom(frame: Frame): void {
    if (!joinedHere(frame)) return
    polite.value = Boolean(frame.polite)
    iceServers = (frame.ice_servers as RTCIceServer[]) ?? iceServers
    if (peer) peer.polite = polite.value
    const participants = (frame.participants as Participant[]) ?? []
    const present = participants.some((p) => p.user_id !== me.value && !p.left_at)
    ensurePeer()
    if (present) otherJoined()
    else if (otherPresent.value) otherPresent.value = false
  }
  client.on('participant.joined', (frame) => {
    const p = frame.participant as Participant
    if (!inRoom(frame) || p?.user_id === me.value) return
    whenMedia(() => {
      if (inRoom(frame)) otherJoined()
    })
  })
  client.on('participant.left', (frame) => {
    const p = frame.participant as Participant
    if (!inRoom(frame) || p?.user_id === me.value) return
    whenMedia(() => { // after a participant.joined that is still waiting, not before it
      if (inRoom(frame)) otherPresent.value = false
    })
  })
  client.on('signal', (frame) => {
    if (!inRoom(frame)) return
    whenMedia(() => {
      if (inRoom(frame)) ensurePeer().handle(frame.data as SignalData)
    })
  })
  client.on('media.state', (frame) => {
    if (!inRoom(frame)) return
    remoteAudio.value = Boolean(frame.audio)
    remoteVideo.value = Boolean(frame.video)
  })
  client.on('room.ended', (frame) => {
    if (inRoom(frame)) ended(String(frame.reason ?? 'ended'))
  })
  client.on('call.declined', (frame) => {
    if (inRoom(frame)) ended('declined')
  })
  client.on('room.replaced', (frame) => {
    if (inRoom(frame)) ended('duplicate-identity')
  })
  client.on('error', (frame) => {
    if (frame.ref !== 'room.join' || !roomId.value || phase.value === 'ended') return
    const code = String(frame.code)
    if (code === 'room_ended' || code === 'room_not_found') ended(code)
    else error.value = String(frame.message ?? 'Could not join the call.')
  })
  watchIceRefresh(client, () => (active() ? roomId.value : null), () => peer?.pc ?? null) // TURN credentials stay fresh
  // After a reconnect, take our place in the room again; media keeps flowing meanwhile.
  client.onResume((reconnected) => {
    if (reconnected && roomId.value && phase.value !== 'ended' && phase.value !== 'idle') {
      client.sendNow({ type: 'room.join', room_id: roomId.value, ref: 'room.join' })
    }
  })

  return {
    phase, appointment, roomId, polite, otherPresent, everConnected, localStream, remoteStream,
    micOn, camOn, remoteAudio, remoteVideo, peerState, quality, mediaError, error, endMessage,
    devices, cameraId, micId, switching, otherName, status, connection, canSwitchCamera,
    prepareMedia, refreshDevices, load, start, answer, hangUp, leave, toggleMic, toggleCam,
    switchCamera, selectCamera, selectMicrophone,
    /** For tests and debugging in the browser: the live peer connection. */
    peerConnection: () => peer?.pc ?? null,
  }
})
