/**
 * The video visit in progress: its phases (starting → ringing or waiting → in-call → ended),
 * starting, answering and hanging up, the peer connection and what the screen shows. The camera
 * and microphone are composables/useDevices, the room's frames are read in ./callFrames, and
 * negotiation is calls/peer. The store outlives route changes inside a visit (pre-call check →
 * call) and is reset after it.
 */
import { defineStore } from 'pinia'
import { computed, ref, shallowRef, watch } from 'vue'
import { api, ApiError, call, errorMessage, type Appointment, type IceServer } from '@/api/client'
import type { RoomJoined } from '@/api/frames'
import { takeEarlyCall } from '@/boot/earlyCall'
import { refreshIceNow, watchIceRefresh } from '@/calls/iceRefresh'
import { planOffer, type Quality } from '@/calls/negotiation'
import { Peer, toRtcIceServers, type SignalData } from '@/calls/peer'
import { audioOnlyNotice as describeAudioOnly, useAudioOnly } from '@/calls/audioOnly'
import { buildSummary, markAudioOnly, watchQuality, type QualityWatch } from '@/calls/quality'
import { canShareScreen, useScreenShare } from '@/calls/screenShare'
import { keepAwake } from '@/calls/wakeLock'
import { useDevices } from '@/composables/useDevices'
import { JOIN_REF, listenToCallFrames, type EndReason, type RemoteExtra } from './callFrames'
import { useRealtimeStore } from './realtime'
import { useSessionStore } from './session'

export type Phase = 'idle' | 'starting' | 'ringing' | 'waiting' | 'in-call' | 'ended'

const END_MESSAGES: Record<EndReason, string> = {
  ended: 'The visit has ended.',
  declined: 'The call was declined.',
  'unused-timeout': 'Nobody answered, so the call has ended.',
  'empty-timeout': 'The call ended because nobody was in it.',
  'max-duration': 'The call reached its maximum length and has ended.',
  'duplicate-identity': 'You joined this visit from another window or device, so it continues there.',
  room_ended: 'This call has already ended.',
  room_not_found: 'This call is not available any more.',
}

const QUALITY_WORDS: Record<Quality, string> = {
  excellent: 'excellent', good: 'good', poor: 'poor, the video may stutter', lost: 'lost for now', unknown: 'checking…',
}

/** The longest the visit's details wait for the room to take us in, when answering (see `answer`). */
const JOIN_FIRST_MS = 300

/**
 * Something that happens later in a call (our answer went out, the room took us in): `wait(ms)`
 * resolves when it next happens, or after `ms` whatever happened.
 */
function moment(): { wait(ms: number): Promise<void>; happened(): void } {
  let waiters: (() => void)[] = []
  return {
    wait: (ms) => new Promise<void>((resolve) => {
      waiters.push(resolve)
      setTimeout(resolve, ms)
    }),
    happened: () => {
      for (const resolve of waiters) resolve()
      waiters = []
    },
  }
}

export const useCallStore = defineStore('call', () => {
  const realtime = useRealtimeStore()
  const session = useSessionStore()
  const media = useDevices(() => peer)
  const { localStream, mediaError, micOn, camOn, devices, cameraId, micId, switching, canSwitchCamera } = media
  const { resumeNeeded, resumeLabel, resumeError } = media // a track that ended and needs a tap (useTrackRecovery)

  const phase = ref<Phase>('idle')
  const appointment = ref<Appointment | null>(null)
  const roomId = ref<string | null>(null)
  const polite = ref(true)
  const otherPresent = ref(false)
  const everConnected = ref(false)
  const remoteStream = shallowRef<MediaStream | null>(null)
  const remoteAudio = ref(true)
  const remoteVideo = ref(true)
  /** The other side shares a screen (their `media.state`). */
  const remoteScreen = ref(false)
  /** The other side's screen line (calls/peer.ts): the shared screen, beside their camera in
   * remoteStream. Null when the connection has none; then a shared screen comes in the camera's place. */
  const remoteScreenStream = shallowRef<MediaStream | null>(null)
  /** When the call first connected (ms), for the call timer. */
  const connectedAt = ref<number | null>(null)
  const peerState = ref<RTCPeerConnectionState>('new')
  /** Our own connection's quality (four levels, calls/negotiation.ts), and the other person's as
   * their browser measured it (their `quality` frames). */
  const quality = ref<Quality>('unknown')
  const theirQuality = ref<Quality>('unknown')
  const error = ref<string | null>(null)
  /** The contract's code of the last failure to start (e.g. `doctor_busy`). */
  const errorCode = ref<string | null>(null)
  const endMessage = ref<string | null>(null)

  let peer: Peer | null = null
  let iceServers: RTCIceServer[] = []
  let iceTransportPolicy: RTCIceTransportPolicy = 'all'
  let stopAwake: (() => void) | null = null
  let qualityWatch: QualityWatch | null = null
  let reportedLevel: Quality = 'unknown'

  const screen = useScreenShare({
    show: async (track) => {
      if (!peer || (await peer.sendScreen(track))) return 'beside'
      await peer.replaceTrack('video', track)
      return 'instead'
    },
    hide: async (mode) => {
      if (mode === 'beside') await peer?.sendScreen(null)
      else await peer?.replaceTrack('video', localStream.value?.getVideoTracks()[0] ?? null)
    },
    changed: () => sendMediaState(),
  })
  const canShare = canShareScreen()
  const audioOnly = useAudioOnly({ pc: () => peer?.pc ?? null, changed: () => sendMediaState() })

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
      return quality.value === 'poor' || quality.value === 'lost' ? 'Connected — poor network, video may stutter' : 'Connected'
    }
    // Once connected, any state but connected is a recovery (an ICE restart, a rebuilt connection).
    if (peerState.value === 'disconnected' || peerState.value === 'failed' || everConnected.value) return 'Reconnecting video…'
    return 'Connecting…'
  })
  /** Both people's network quality in words ("Your connection: good"), for the call screen. */
  const qualityLines = computed(() => [
    { who: 'you', text: `Your connection: ${QUALITY_WORDS[quality.value]}`, level: quality.value },
    { who: 'them', text: `${otherName.value}'s connection: ${QUALITY_WORDS[theirQuality.value]}`, level: theirQuality.value },
  ])
  /** Why video is paused, in the person's words (null: it is not). */
  // The call's summary counts the time spent audio only, whoever paused the video and why.
  watch(() => audioOnly.active.value, (on) => {
    if (qualityWatch) markAudioOnly(qualityWatch.totals, on, Date.now())
  })
  const audioOnlyNotice = computed(() => describeAudioOnly(audioOnly.mine.value, audioOnly.theirs.value, otherName.value))
  const connection = computed(() => {
    if (phase.value === 'ended') return 'ended'
    if (realtime.state !== 'ready') return 'reconnecting'
    if (peerState.value === 'connected') return quality.value === 'poor' || quality.value === 'lost' ? 'poor' : 'connected'
    if (peerState.value === 'disconnected' || peerState.value === 'failed' || everConnected.value) return 'reconnecting'
    return 'connecting'
  })

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
    errorCode.value = null
    remoteAudio.value = true
    remoteVideo.value = true
    remoteScreen.value = false
    connectedAt.value = null
    audioOnly.reset()
    peerState.value = 'new'
    quality.value = 'unknown'
    theirQuality.value = 'unknown'
    reportedLevel = 'unknown'
  }

  /**
   * The STUN and TURN servers for the peer connection, from the call response and from every
   * `room.joined`. TURN credentials expire: calls/iceRefresh.ts asks for fresh ones before then
   * and puts them on the live connection (see `watchIceRefresh` below). With the policy `relay` (a
   * clinic's privacy setting) the connection gathers TURN candidates only.
   */
  function setIceServers(servers: readonly IceServer[], policy: RTCIceTransportPolicy): void {
    iceServers = toRtcIceServers(servers)
    iceTransportPolicy = policy
  }

  /** Caller: start (or pick up the live) room, then join it; the camera opens meanwhile. */
  async function start(appointmentId: string): Promise<void> {
    resetForVisit()
    phase.value = 'starting'
    void media.prepareMedia()
    try {
      await load(appointmentId)
      const started = await call(
        api.POST('/api/v1/appointments/{appointment_id}/call', { params: { path: { appointment_id: appointmentId } } }),
      )
      setIceServers(started.ice_servers, started.ice_transport_policy)
      const othersIn = started.room.participants.some((p) => p.user_id !== me.value && !p.left_at)
      join(started.room.id, othersIn ? 'waiting' : 'ringing')
    } catch (err) {
      phase.value = 'idle'
      error.value = errorMessage(err)
      errorCode.value = err instanceof ApiError ? err.code : null
    }
  }

  /**
   * Callee (accepting a ring) or anyone rejoining: join a known room. The join goes out first and
   * the camera opens alongside it: in series they made accepting a call about 1.3x slower than a
   * bare page pair. The connection does not wait for the camera either: it answers at once and
   * the tracks follow (calls/peer.ts, `attach`). The visit's details are
   * not needed to set the call up, so they are asked for once the room has taken us in (or after
   * {@link JOIN_FIRST_MS}): asked for alongside, their read (and its audit record) kept the
   * server's `room.join`, and so the doctor's offer, waiting.
   */
  async function answer(appointmentId: string, room: string): Promise<void> {
    resetForVisit()
    answeringVisit = appointmentId
    phase.value = 'starting'
    const inRoom = roomEntered.wait(JOIN_FIRST_MS)
    // A page opened on this call's address sent the join and opened the camera already.
    const early = takeEarlyCall(appointmentId, room)
    join(room, 'waiting', early === null)
    void media.prepareMedia(early?.media)
    try {
      await inRoom
      if (roomId.value !== room || !active()) return // hung up or left meanwhile
      await load(appointmentId)
    } catch (err) {
      if (roomId.value !== room || !active()) return // hung up or left meanwhile
      leave()
      error.value = errorMessage(err)
    }
  }

  const active = () => phase.value !== 'ended' && phase.value !== 'idle'

  /** The room took us in (`room.joined`). */
  const roomEntered = moment()

  /** Whether this visit's room is already being answered or is in progress here (not ended). */
  let answeringVisit: string | null = null
  const answering = (appointmentId: string, room: string): boolean =>
    active() && roomId.value === room && answeringVisit === appointmentId


  function join(room: string, next: Phase, send = true): void {
    roomId.value = room
    phase.value = next
    if (send) realtime.client.send({ type: 'room.join', room_id: room, ref: JOIN_REF })
    stopAwake = keepAwake()
    qualityWatch = watchQuality(() => peer?.pc ?? null, (q) => {
      quality.value = q
      sendQuality()
    }, {
      // A shared screen sends little when nothing on it moves: its bitrate and frame rate say
      // nothing about the link, so they are not judged (nor while video is paused).
      videoExpected: () => remoteVideo.value && !remoteScreen.value && !audioOnly.active.value,
      onSample: (judged, next) => audioOnly.reading(judged, next.availableOutgoingKbps, next.atMs ?? Date.now()),
    })
  }

  /** Our next description (the answer, or the offer) has gone out. */
  const descriptionOut = moment()
  /**
   * Resolves once this side's next description (its answer, or its offer) has gone out, or after
   * `ms` whatever happened (a call that fails first shows why on the call screen).
   */
  const descriptionSent = (ms: number): Promise<void> => descriptionOut.wait(ms)

  function sendSignal(data: SignalData): void {
    if (roomId.value) realtime.client.sendNow({ type: 'signal', room_id: roomId.value, data })
    if ('description' in data) descriptionOut.happened()
  }

  function sendMediaState(): void {
    if (!roomId.value) return
    const ao = audioOnly.mine.value
    realtime.client.sendNow({
      type: 'media.state', room_id: roomId.value, audio: micOn.value, video: camOn.value,
      screen: screen.sharing.value, audio_only: ao.on, audio_only_reason: ao.reason,
    })
  }

  /** Our level to the other side (`quality.report`), when it changed or they (re)joined. */
  function sendQuality(force = false): void {
    const level = quality.value
    if (!roomId.value || !otherPresent.value || level === 'unknown' || (level === reportedLevel && !force)) return
    reportedLevel = level
    realtime.client.sendNow({ type: 'quality.report', room_id: roomId.value, level })
  }

  /** Our side's summary of the call, for the visit's log: sent once as the call ends for us. */
  function sendSummary(): void {
    const totals = qualityWatch?.totals
    const visit = appointment.value?.id
    if (!totals || !visit || totals.connectedAtMs === null) return
    void api.POST('/api/v1/appointments/{appointment_id}/quality', {
      params: { path: { appointment_id: visit } }, body: buildSummary(totals, Date.now()),
    }).catch(() => undefined) // a summary that does not arrive costs nobody their call
  }

  function ensurePeer(): Peer {
    if (!peer) {
      peer = new Peer(polite.value, iceServers, localStream.value, {
        send: sendSignal,
        remoteStream: (s) => (remoteStream.value = s),
        remoteScreen: (s) => (remoteScreenStream.value = s),
        state: (s) => {
          peerState.value = s
          if (s === 'connected') {
            everConnected.value = true
            connectedAt.value ??= Date.now()
            if (screen.sharing.value) void screen.resend()
          }
        },
        // An ICE restart (calls/recovery.ts) gathers with fresh TURN credentials.
        beforeRestart: () => (roomId.value ? refreshIceNow(realtime.client, roomId.value) : Promise.resolve(false)),
      }, iceTransportPolicy, media.mediaComing())
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

  function joinedRoom(frame: RoomJoined): void {
    polite.value = frame.polite
    setIceServers(frame.ice_servers, frame.ice_transport_policy)
    if (peer) peer.polite = polite.value
    const present = frame.participants.some((p) => p.user_id !== me.value && !p.left_at)
    ensurePeer()
    if (present) otherJoined()
    else if (otherPresent.value) otherPresent.value = false
  }

  function otherJoined(): void {
    otherPresent.value = true
    if (phase.value === 'ringing' || phase.value === 'waiting') phase.value = 'in-call'
    sendMediaState()
    sendQuality(true)
    maybeOffer()
  }

  function ended(reason: EndReason, byMe = false): void {
    if (phase.value === 'ended') return
    phase.value = 'ended'
    // Hanging up before anyone answered cancels a ring; it did not end a visit.
    endMessage.value = byMe ? (everConnected.value || otherPresent.value ? 'You ended the visit.' : 'You cancelled the call.')
      : reason === 'declined' ? `${otherName.value} declined the call.`
        : END_MESSAGES[reason] ?? 'The visit has ended.' // a reason newer than this page
    teardown()
  }

  function teardown(): void {
    void screen.stop(false)
    stopAwake?.()
    qualityWatch?.stop()
    sendSummary()
    stopAwake = qualityWatch = null
    peer?.close()
    peer = null
    media.release()
    remoteStream.value = null
    remoteScreenStream.value = null
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
      if (err instanceof ApiError && err.status === 0) endMessage.value = 'You left the visit.'
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
    media.toggleMic()
    sendMediaState()
  }

  function toggleCam(): void {
    media.toggleCam()
    sendMediaState()
  }

  const client = realtime.client
  listenToCallFrames(client, {
    inRoom: (id) => roomId.value !== null && id === roomId.value && phase.value !== 'ended',
    inCall: () => roomId.value !== null && phase.value !== 'ended',
    me: () => me.value,
    entered: () => roomEntered.happened(),
    joined: joinedRoom,
    otherJoined,
    otherLeft: () => (otherPresent.value = false),
    signal: (data) => ensurePeer().handle(data),
    otherQuality: (level) => (theirQuality.value = level),
    remoteMedia: (audio, video, extra: RemoteExtra) => {
      remoteAudio.value = audio
      remoteVideo.value = video
      remoteScreen.value = extra.screen
      audioOnly.fromOther(extra.audioOnly, extra.reason)
    },
    ended: (reason) => ended(reason),
    joinFailed: (message) => (error.value = message),
  })
  // After a reconnect, take our place in the room again; media keeps flowing meanwhile.
  watchIceRefresh(client, () => (active() ? roomId.value : null), () => peer?.pc ?? null) // TURN credentials stay fresh
  client.onResume((reconnected) => {
    if (reconnected && roomId.value && active()) {
      client.sendNow({ type: 'room.join', room_id: roomId.value, ref: JOIN_REF })
    }
  })

  return {
    phase, appointment, roomId, polite, otherPresent, everConnected, localStream, remoteStream,
    micOn, camOn, remoteAudio, remoteVideo, peerState, quality, theirQuality, mediaError, error, errorCode, endMessage,
    devices, cameraId, micId, switching, otherName, status, connection, qualityLines, canSwitchCamera,
    prepareMedia: media.prepareMedia, refreshDevices: media.refreshDevices, load, start, answer, answering, hangUp,
    leave, toggleMic, toggleCam, switchCamera: media.switchCamera, selectCamera: media.selectCamera,
    selectMicrophone: media.selectMicrophone, resumeNeeded, resumeLabel, resumeError,
    resumeMedia: media.resumeMedia,
    remoteScreen, remoteScreenStream, connectedAt, canShare, sharing: screen.sharing, shareError: screen.shareError,
    /** Our shared screen took the camera's place (the other side's app has no screen line). */
    shareReplacesCamera: computed(() => screen.sharing.value && screen.mode.value === 'instead'),
    startShare: screen.start, stopShare: () => screen.stop(),
    audioOnly: audioOnly.active, audioOnlyMine: computed(() => audioOnly.mine.value.on), audioOnlyNotice,
    toggleAudioOnly: () => audioOnly.toggle(),
    /** For tests and debugging in the browser: the live peer connection. */
    peerConnection: () => peer?.pc ?? null,
    descriptionSent,
    /** The camera and microphone being opened are open or failed (the answer does not wait for them). */
    mediaSettled: media.mediaSettled,
  }
})
