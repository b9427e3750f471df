/**
 * Sharing a screen or window in a call. The screen goes on the connection's screen line, beside the
 * camera (calls/peer.ts: a second video line negotiated with every call, so either side can share
 * with `replaceTrack` and no new offer); the other side sees it large and the sharer's camera small.
 * Only where the other side's app answered that line receive-only (an older version) does the screen
 * take the camera's place. Stopping, from our button or from the browser's own "Stop sharing" bar
 * (the track's `ended` event), empties the line again (or puts the camera back).
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

/** Where the screen went: on its own line beside the camera, or in the camera's place. */
export type ShareMode = 'beside' | 'instead'

export interface ScreenShareHooks {
  /** Send this screen track (on the screen line if there is one, else in the camera's place). */
  show(track: MediaStreamTrack): Promise<ShareMode>
  /** Sharing stopped: empty the screen line, or put the camera back in its place. */
  hide(mode: ShareMode): Promise<void>
  /** Sharing started or stopped: tell the other side. */
  changed(sharing: boolean): void
}

export function useScreenShare(hooks: ScreenShareHooks) {
  const sharing = ref(false)
  const shareError = ref<string | null>(null)
  const screenStream = shallowRef<MediaStream | null>(null)
  const mode = ref<ShareMode>('beside')

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
      mode.value = await hooks.show(track)
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

  /** Stop sharing: the screen line empties (or the camera comes back in its place); `restore:
   * false` when the call is ending anyway. */
  async function stop(restore = true): Promise<void> {
    const stream = screenStream.value
    if (!stream) return
    screenStream.value = null
    sharing.value = false
    for (const t of stream.getTracks()) t.stop()
    if (!restore) return
    try {
      await hooks.hide(mode.value)
    } catch (err) {
      console.warn('screen not taken off the call', err)
    }
    hooks.changed(false)
  }

  /** A rebuilt peer connection starts with an empty screen line: put the screen back on it. */
  async function resend(): Promise<void> {
    const track = screenStream.value?.getVideoTracks()[0]
    if (!track || track.readyState !== 'live') return
    try {
      mode.value = await hooks.show(track)
    } catch {
      /* the next connection gets it */
    }
  }

  return { sharing, shareError, screenStream, mode, start, stop, resend }
}
