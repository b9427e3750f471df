/**
 * Keep the screen on during a call. The browser drops the lock when the page is hidden (a phone's
 * screen locked, another app in front), so it is taken again whenever the page becomes visible;
 * the call's camera and microphone are re-acquired at the same moment (composables/useTrackRecovery).
 */

export function keepAwake(): () => void {
  let sentinel: WakeLockSentinel | null = null
  let active = true
  const acquire = async () => {
    if (!active || document.visibilityState !== 'visible' || !('wakeLock' in navigator)) return
    if (sentinel && !sentinel.released) return // still held (a visibilitychange without a real hide)
    try {
      const taken = await navigator.wakeLock.request('screen')
      if (active) sentinel = taken
      else void taken.release().catch(() => {}) // the call ended while it was being taken
    } catch {
      /* battery saver or unsupported: the call works without it */
    }
  }
  const onVisible = () => {
    if (document.visibilityState === 'visible') void acquire()
  }
  document.addEventListener('visibilitychange', onVisible)
  void acquire()
  return () => {
    active = false
    document.removeEventListener('visibilitychange', onVisible)
    void sentinel?.release().catch(() => {})
    sentinel = null
  }
}
