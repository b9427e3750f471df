/**
 * The camera and microphone of a visit: opening them (once, shared by whoever asks first), the
 * device list for the pickers, the choice remembered across visits, mute and camera off, and
 * switching devices mid-call. The call store owns one; the peer connection gets new tracks through
 * `sink`, so a switch needs no renegotiation.
 */
import { computed, ref, shallowRef } from 'vue'
import { errorMessage } from '@/api/client'
import {
  CHOICE_KEY, facingOf, listDevices, loadChoice, MediaError, nextCamera, openCamera, openLocalMedia, openMicrophone, stopStream,
  type DeviceChoice, type Devices,
} from '@/calls/media'
import { useTrackRecovery, type Kind } from './useTrackRecovery'


/** Where a new local track goes: the call's peer connection (the Peer class fits). */
export interface TrackSink {
  replaceTrack(kind: 'audio' | 'video', track: MediaStreamTrack): Promise<void>
  setLocal(stream: MediaStream): void
  /** The camera and microphone opened (or, null, failed to) after the connection was made. */
  attach(stream: MediaStream | null): void
}

export function useDevices(sink: () => TrackSink | null) {
  const localStream = shallowRef<MediaStream | null>(null)
  const mediaError = ref<string | null>(null)
  const micOn = ref(true)
  const camOn = ref(true)
  const devices = ref<Devices>({ cameras: [], microphones: [] })
  const choice = ref<DeviceChoice>(loadChoice())
  const cameraId = ref<string | undefined>()
  const micId = ref<string | undefined>()
  const switching = ref(false)
  const canSwitchCamera = computed(() => devices.value.cameras.length > 1)

  /** Tracks that end by themselves are opened again (./useTrackRecovery). */
  const recovery = useTrackRecovery({
    stream: () => localStream.value,
    reopen: reopenDevice,
    swap: swapTrack,
  })

  /** The camera and microphone being opened, if they are. */
  let opening: Promise<boolean> | null = null
  /** Bumped by release, so media that opens after the visit ended is stopped, not kept. */
  let visit = 0

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
  function prepareMedia(started?: Promise<MediaStream>): Promise<boolean> {
    if (localStream.value?.active) return Promise.resolve(true)
    if (opening) return opening
    opening = openMedia(visit, started)
    return opening
  }

  /** `started`: the camera and microphone already being opened (boot/earlyCall.ts), to wait for. */
  async function openMedia(forVisit: number, started?: Promise<MediaStream>): Promise<boolean> {
    mediaError.value = null
    let stream: MediaStream
    try {
      stream = await (started ?? openLocalMedia(choice.value))
    } catch (err) {
      if (forVisit !== visit) return false
      mediaError.value = errorMessage(err)
      opening = null
      sink()?.attach(null)
      return false
    }
    if (forVisit !== visit) {
      stopStream(stream) // the visit ended while the camera opened
      return false
    }
    localStream.value = stream
    recovery.watch(stream)
    applyEnabled()
    opening = null
    // A connection made meanwhile negotiated lines for these tracks (calls/peer.ts, `attach`).
    sink()?.attach(stream)
    void refreshDevices().catch(() => {})
    return true
  }

  /**
   * Whether the camera and microphone are being opened: a connection made now negotiates lines
   * for their tracks, which come by `attach` (the call does not wait for the camera).
   */
  const mediaComing = (): boolean => opening !== null

  /** Resolves once the camera and microphone being opened are open or failed (at once if none are). */
  const mediaSettled = (): Promise<boolean> => opening ?? Promise.resolve(localStream.value !== null)

  function applyEnabled(): void {
    for (const t of localStream.value?.getAudioTracks() ?? []) t.enabled = micOn.value
    for (const t of localStream.value?.getVideoTracks() ?? []) t.enabled = camOn.value
  }

  function toggleMic(): void {
    micOn.value = !micOn.value
    applyEnabled()
  }

  function toggleCam(): void {
    camOn.value = !camOn.value
    applyEnabled()
  }

  /** The visit is over: stop the camera and microphone, drop frames still waiting for them. */
  function release(): void {
    visit += 1
    opening = null
    recovery.clear()
    stopStream(localStream.value)
    localStream.value = null
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
    await sink()?.replaceTrack(kind, track)
    for (const old of kind === 'video' ? stream.getVideoTracks() : stream.getAudioTracks()) {
      stream.removeTrack(old)
      old.stop()
    }
    stream.addTrack(track)
    // A new MediaStream object so the preview element picks the new track up.
    localStream.value = new MediaStream(stream.getTracks())
    sink()?.setLocal(localStream.value)
    recovery.watch(localStream.value)
    return true
  }

  /**
   * A device again after its track ended: the one in use (or chosen), else any camera or
   * microphone (the one in use may be the one that was unplugged).
   */
  async function reopenDevice(kind: Kind): Promise<MediaStreamTrack> {
    const retryAny = (err: unknown) => {
      if (err instanceof MediaError && err.kind === 'missing') return kind === 'video' ? openCamera({}) : openMicrophone()
      throw err
    }
    if (kind === 'audio') return openMicrophone(micId.value ?? choice.value.micId).catch(retryAny)
    const target = { cameraId: cameraId.value ?? choice.value.cameraId, facingMode: choice.value.facingMode }
    return openCamera(target).catch(retryAny)
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
      if (!current || !(err instanceof MediaError) || err.kind !== 'busy') throw err
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

  return {
    localStream, mediaError, micOn, camOn, devices, cameraId, micId, switching, canSwitchCamera,
    refreshDevices, prepareMedia, mediaComing, mediaSettled, toggleMic, toggleCam, release, switchCamera, selectCamera,
    selectMicrophone,
    /** What stopped and could not be opened again by itself, the button's words, and its tap. */
    resumeNeeded: recovery.resumeNeeded, resumeLabel: recovery.resumeLabel, resumeError: recovery.resumeError,
    resumeMedia: recovery.resume,
  }
}
