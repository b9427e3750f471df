/**
 * Sharing a screen or window in a call. The shared screen takes the place of the camera on the
 * outgoing video sender (`replaceTrack`, no renegotiation): the patient's side is the polite peer
 * and never offers, so an extra track would need a new offer from whoever shares (docs/web.md,
 * "Screen share"). Stopping, from our button or from the browser's own "Stop sharing" bar (the
 * track's `ended` event), puts the camera back.
 */
import { ref, shallowRef } from 'vue'

/** Phones have no getDisplayMedia: the control is not shown there. */
export function canShareScreen(devices: Partial<MediaDevices> | undefined = globalThis.navigator?.mediaDevices): boolean {
  return typeof devices?.getDisplayMedia === 'function'
}

export type ShareOutcome = 'started' | 'cancelled' | 'failed'

/** Cancelling the browser's picker is a choice, not an error: nothing to tell the person. */
export function outcomeOf(err: unknown): ShareOutcome {
  return err instanceof DOMException && (err.name === 'NotAllowedError' || err.name === 'AbortError') ? 'cancelled' : 'failed'
}

export interface ScreenShareHooks {
  /** Put this track on the outgoing video sender (the camera's place). */
  send(track: MediaStreamTrack | null): Promise<void>
  /** The camera track to send again when sharing stops (null: none open). */
  camera(): MediaStreamTrack | null
  /** Sharing started or stopped: tell the other side. */
  changed(sharing: boolean): void
}

export function useScreenShare(hooks: ScreenShareHooks) {
  const sharing = ref(false)
  const shareError = ref<string | null>(null)
  const screenStream = shallowRef<MediaStream | null>(null)

  async function start(): Promise<ShareOutcome> {
    if (sharing.value) return 'started'
    shareError.value = null
    let stream: MediaStream
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false })
    } catch (err) {
      const outcome = outcomeOf(err)
      if (outcome === 'failed') shareError.value = 'Your screen could not be shared. Try again, or choose a window.'
      return outcome
    }
    const track = stream.getVideoTracks()[0]
    if (!track) return 'failed'
    // Text and slides: keep them sharp rather than smooth when the bitrate is short.
    track.contentHint = 'detail'
    track.addEventListener('ended', () => void stop(), { once: true })
    try {
      await hooks.send(track)
    } catch {
      track.stop()
      shareError.value = 'Your screen could not be shared. Try again, or choose a window.'
      return 'failed'
    }
    screenStream.value = stream
    sharing.value = true
    hooks.changed(true)
    return 'started'
  }

  /** Stop sharing and send the camera again; `restore: false` when the call is ending anyway. */
  async function stop(restore = true): Promise<void> {
    const stream = screenStream.value
    if (!stream) return
    screenStream.value = null
    sharing.value = false
    for (const t of stream.getTracks()) t.stop()
    if (!restore) return
    try {
      await hooks.send(hooks.camera())
    } catch (err) {
      console.warn('camera not restored after sharing', err)
    }
    hooks.changed(false)
  }

  /** A rebuilt peer connection starts with the camera: put the screen back on it. */
  async function resend(): Promise<void> {
    const track = screenStream.value?.getVideoTracks()[0]
    if (track && track.readyState === 'live') await hooks.send(track).catch(() => undefined)
  }

  return { sharing, shareError, screenStream, start, stop, resend }
}
