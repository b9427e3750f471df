/**
 * A camera or microphone track that ends mid-visit (another app took the camera, a phone call on
 * iOS, a device unplugged) is opened again and swapped in with replaceTrack, with no
 * renegotiation. While the page is hidden nothing is opened (phones refuse or stall): it happens
 * when the person comes back (`visibilitychange`). When the browser refuses (it may want a tap
 * first), `resumeNeeded` lists what stopped and the call screen shows one button; `resume()` from
 * that tap tries again. docs/web.md, "Recovery".
 */
import { computed, ref } from 'vue'
import { errorMessage } from '@/api/client'

export type Kind = 'audio' | 'video'

export interface TrackRecoveryDeps {
  /** The visit's local stream (null before the camera opened and after the visit). */
  stream(): MediaStream | null
  /** Open a fresh track of this kind (the chosen device, or any). */
  reopen(kind: Kind): Promise<MediaStreamTrack>
  /** Put it in place of the ended one, on the preview and the peer connection. */
  swap(kind: Kind, track: MediaStreamTrack): Promise<boolean>
}

const KINDS: readonly Kind[] = ['audio', 'video']

export const RESUME_LABELS: Record<string, string> = {
  video: 'Turn camera back on',
  audio: 'Turn microphone back on',
  'audio,video': 'Turn camera and microphone back on',
}

export function useTrackRecovery(deps: TrackRecoveryDeps) {
  const resumeNeeded = ref<Kind[]>([])
  /** Why the last tap did not work (shown beside the button). */
  const resumeError = ref<string | null>(null)
  const resumeLabel = computed(() => RESUME_LABELS[[...resumeNeeded.value].sort().join(',')] ?? null)
  const busy = new Set<Kind>()
  const watched = new WeakSet<MediaStreamTrack>()

  const current = (track: MediaStreamTrack) => deps.stream()?.getTracks().includes(track) ?? false
  const visible = () => typeof document === 'undefined' || document.visibilityState === 'visible'
  const ended = (): Kind[] =>
    KINDS.filter((k) => deps.stream()?.getTracks().some((t) => t.kind === k && t.readyState === 'ended'))

  /** Listen for the end of each track of the stream (call after every change of the stream). */
  function watch(stream: MediaStream | null): void {
    for (const track of stream?.getTracks() ?? []) {
      if (watched.has(track) || typeof track.addEventListener !== 'function') continue
      watched.add(track)
      track.addEventListener('ended', () => {
        // Our own stop() (a device switch, the end of the visit) fires no `ended`; a track we no
        // longer hold is someone else's business.
        if (current(track) && visible()) void reacquire([track.kind as Kind], false)
      })
    }
  }

  async function reacquire(kinds: Kind[], byTap: boolean): Promise<boolean> {
    let ok = true
    for (const kind of kinds) {
      if (busy.has(kind)) continue
      busy.add(kind)
      try {
        const track = await deps.reopen(kind)
        if (!(await deps.swap(kind, track))) continue // the visit ended meanwhile
        watch(deps.stream())
        resumeNeeded.value = resumeNeeded.value.filter((k) => k !== kind)
        if (!resumeNeeded.value.length) resumeError.value = null
      } catch (err) {
        ok = false
        if (!resumeNeeded.value.includes(kind)) resumeNeeded.value = [...resumeNeeded.value, kind]
        if (byTap) resumeError.value = errorMessage(err)
      } finally {
        busy.delete(kind)
      }
    }
    return ok
  }

  /** Back from the background: whatever ended or stayed off meanwhile, open again. */
  function onVisible(): void {
    if (!visible() || !deps.stream()) return
    const kinds = [...new Set([...ended(), ...resumeNeeded.value])]
    if (kinds.length) void reacquire(kinds, false)
  }

  if (typeof document !== 'undefined') document.addEventListener('visibilitychange', onVisible)

  return {
    resumeNeeded,
    resumeLabel,
    resumeError,
    watch,
    /** The button's tap (a user gesture, which some browsers need before opening a device). */
    resume: () => reacquire([...new Set([...resumeNeeded.value, ...ended()])], true),
    clear: () => {
      resumeNeeded.value = []
      resumeError.value = null
    },
    /** Stop listening to the page's visibility (the owner is gone). */
    dispose: () => {
      if (typeof document !== 'undefined') document.removeEventListener('visibilitychange', onVisible)
    },
  }
}
