/** Keep the screen on during a call; the browser drops the lock when the page is hidden, so take it again. */

export function keepAwake(): () => void {
  let sentinel: WakeLockSentinel | null = null
  let active = true
  const acquire = async () => {
    if (!active || document.visibilityState !== 'visible' || !('wakeLock' in navigator)) return
    try {
      sentinel = await navigator.wakeLock.request('screen')
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
