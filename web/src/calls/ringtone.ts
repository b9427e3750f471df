/** A calm two-tone ring made with WebAudio (no audio file to download or cache). */

export function ring(): () => void {
  const Ctx = window.AudioContext
  if (!Ctx) return () => {}
  const ctx = new Ctx()
  const gain = ctx.createGain()
  gain.gain.value = 0
  gain.connect(ctx.destination)
  const tones = [660, 880].map((frequency) => {
    const osc = ctx.createOscillator()
    osc.type = 'sine'
    osc.frequency.value = frequency
    osc.connect(gain)
    osc.start()
    return osc
  })
  const pattern = () => {
    const t = ctx.currentTime
    gain.gain.cancelScheduledValues(t)
    gain.gain.setValueAtTime(0, t)
    for (const start of [0, 0.5]) {
      gain.gain.linearRampToValueAtTime(0.12, t + start + 0.03)
      gain.gain.setValueAtTime(0.12, t + start + 0.35)
      gain.gain.linearRampToValueAtTime(0, t + start + 0.4)
    }
  }
  pattern()
  const timer = setInterval(pattern, 2500)
  void ctx.resume().catch(() => {})
  return () => {
    clearInterval(timer)
    for (const osc of tones) osc.stop()
    void ctx.close()
  }
}
