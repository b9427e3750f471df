/** A short, soft two-note chime (WebAudio): a patient arrived in the waiting room. */
export function chime(): void {
  const Ctx = window.AudioContext
  if (!Ctx) return
  const ctx = new Ctx()
  const gain = ctx.createGain()
  gain.connect(ctx.destination)
  const t = ctx.currentTime
  gain.gain.setValueAtTime(0, t)
  ;[523.25, 783.99].forEach((frequency, i) => {
    const osc = ctx.createOscillator()
    osc.type = 'sine'
    osc.frequency.value = frequency
    osc.connect(gain)
    const start = t + i * 0.22
    gain.gain.linearRampToValueAtTime(0.1, start + 0.02)
    gain.gain.linearRampToValueAtTime(0, start + 0.2)
    osc.start(start)
    osc.stop(start + 0.22)
  })
  void ctx.resume().catch(() => {})
  setTimeout(() => void ctx.close().catch(() => {}), 1000)
}
