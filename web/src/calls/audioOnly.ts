
/**
 * The call's audio-only state: our choice, our link's fallback, the other side's wish, and the
 * senders kept in line with them. `changed` is told when our side of it changed (send media.state).
 */
export function useAudioOnly(hooks: { pc: () => RTCPeerConnection | null; changed: () => void }) {
  const manual = ref(false)
  const fallback = ref<FallbackState>(initialFallback())
  const theirs = ref<AudioOnlySide>({ on: false, reason: null })
  const mine = computed<AudioOnlySide>(() => (manual.value ? { on: true, reason: 'manual' }
    : fallback.value.audioOnly ? { on: true, reason: 'network' } : { on: false, reason: null }))
  /** Whether video is paused in this call (either side asked). */
  const active = computed(() => mine.value.on || theirs.value.on)

  async function sync(): Promise<void> {
    const pc = hooks.pc()
    if (!pc || pc.connectionState === 'closed') return
    try {
      await applyVideoSending(pc, !active.value)
    } catch (err) {
      console.warn('video sending not changed', err)
    }
  }

  watch(active, () => void sync())
  watch(() => `${mine.value.on}:${mine.value.reason}`, () => hooks.changed())

  /** One judged quality sample (calls/quality.ts `onSample`). */
  function reading(level: Quality, availableOutgoingKbps: number | null, atMs: number): void {
    fallback.value = nextFallback(fallback.value, { level, availableOutgoingKbps, atMs })
    void sync() // a rebuilt connection's senders start active
  }

  /** The person's button: video off, or back on (which also ends a network pause, with the
   * relapse rule still in force if the link is still weak). */
  function toggle(now = Date.now()): void {
    if (mine.value.on) {
      manual.value = false
      if (fallback.value.audioOnly) fallback.value = { ...fallback.value, audioOnly: false, goodSinceMs: null, restoredAtMs: now }
    } else {
      manual.value = true
    }
  }

  function fromOther(on: boolean, reason: AudioOnlyReason | null | undefined): void {
    theirs.value = on ? { on, reason: reason ?? 'manual' } : { on: false, reason: null }
  }

  function reset(): void {
    manual.value = false
    fallback.value = initialFallback()
    theirs.value = { on: false, reason: null }
  }

  return { mine, theirs, active, reading, toggle, fromOther, reset, sync }
}
