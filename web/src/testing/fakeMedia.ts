/** Camera and microphone tracks and streams for unit tests (happy-dom has no media). */

export class FakeTrack extends EventTarget {
  enabled = true
  stopped = false
  constructor(readonly kind: 'audio' | 'video', readonly deviceId = `${kind}-1`) {
    super()
  }
  get readyState(): MediaStreamTrackState {
    return this.stopped ? 'ended' : 'live'
  }
  stop(): void {
    this.stopped = true
  }
  /** What the browser does when another app takes the device: stopped, and `ended` fired. */
  end(): void {
    this.stopped = true
    this.dispatchEvent(new Event('ended'))
  }
  getSettings(): MediaTrackSettings {
    return { deviceId: this.deviceId }
  }
}

export class FakeStream {
  private tracks: FakeTrack[]
  constructor(tracks: FakeTrack[] = []) {
    this.tracks = [...tracks]
  }
  get active(): boolean {
    return this.tracks.some((t) => !t.stopped)
  }
  getTracks(): FakeTrack[] {
    return [...this.tracks]
  }
  getAudioTracks(): FakeTrack[] {
    return this.tracks.filter((t) => t.kind === 'audio')
  }
  getVideoTracks(): FakeTrack[] {
    return this.tracks.filter((t) => t.kind === 'video')
  }
  addTrack(t: FakeTrack): void {
    this.tracks.push(t)
  }
  removeTrack(t: FakeTrack): void {
    this.tracks = this.tracks.filter((x) => x !== t)
  }
}
