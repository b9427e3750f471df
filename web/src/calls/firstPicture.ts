/**
 * The other side's first picture without the frames Chromium drops while it finds the size.
 *
 * A new connection sends video at WebRTC's start bitrate (300 kbit/s in Chromium, a little less
 * for the video once the voice has its share) until its first probes have measured the link.
 * When the camera's first frames reach the encoder before that, Chromium finds them too large for
 * the bitrate (libwebrtc's `VideoStreamEncoder::DropDueToSize`: over 320x240 pixels below
 * 300 kbit/s, over 640x480 below 500), drops one, halves the size, drops the next, halves it again,
 * and only then sends: 320x180 from a 1280x720 camera, two frames late. Whether the estimate or
 * the frames come first is a race that went the slow way in about half the calls measured
 * (docs/benchmarks.md, "The first frame's size").
 *
 * So each new connection starts the camera at the size Chromium would end up at (at most 320x240
 * pixels, {@link startScale}) and holds it there (`maintain-resolution`), which sends the first
 * frame at once. After {@link FIRST_PICTURE_MS} (12 s) the sender returns to full size and to the
 * browser's own choice (`balanced`), by when the estimate has measured the link: a good one gets
 * the full picture, a poor one is scaled down as it always was.
 */
/**
 * How long a new connection starts small: the estimate has measured the link well within it, and
 * Chromium's own climb back from the dropped start took about as long (seconds at 320x180, then
 * 640x360). Full size at once after the first second or two would cost the phone (and the 2-core
 * test machines) a 1280x720 encode from the first seconds of every call.
 */
export const FIRST_PICTURE_MS = 12_000

/** The most pixels Chromium sends below 300 kbit/s without dropping frames first. */
export const START_PIXELS = 320 * 240

/**
 * The power of two by which a camera of this size is scaled down to at most {@link START_PIXELS}
 * (1280x720 → 4, 320x180; 640x480 → 2, 320x240), as Chromium's own halving would.
 */
export function startScale(width: number | undefined, height: number | undefined): number {
  if (!width || !height) return 1
  let scale = 1
  while ((width / scale) * (height / scale) > START_PIXELS) scale *= 2
  return scale
}

/**
 * Start this sender small and hold its size (`scale` > 1), or give the size back (`scale` 1):
 * full size and the browser's own degradation preference. A scale set meanwhile by something else
 * (a shared screen's thumbnail) is left alone, as is everything else the sender is set to (audio
 * only's `active`). A browser that refuses the parameters keeps its own choice, which is only slower.
 */
export async function startSmall(sender: RTCRtpSender, scale: number, from = 1): Promise<void> {
  const params = sender.getParameters()
  if (!params.encodings?.length) return
  if (scale > 1) params.degradationPreference = 'maintain-resolution'
  else delete params.degradationPreference
  params.encodings = params.encodings.map((e) =>
    (e.scaleResolutionDownBy ?? 1) === from ? { ...e, scaleResolutionDownBy: scale } : e)
  try {
    await sender.setParameters(params)
  } catch (err) {
    console.warn('first picture: size not set', err)
  }
}

/**
 * A camera track about to go on a sender of a connection already negotiated (the answer went out
 * before the camera had opened: calls/peer.ts, `attach`): the same start as {@link fastFirstPicture},
 * set before the track reaches the encoder, and the same return after `wait`. Resolves once the
 * size is set, with what cancels the return.
 */
export async function startTrackSmall(
  pc: RTCPeerConnection, sender: RTCRtpSender, track: MediaStreamTrack, wait = FIRST_PICTURE_MS,
): Promise<() => void> {
  const { width, height } = track.getSettings()
  const scale = startScale(width, height)
  if (scale === 1) return () => {}
  await startSmall(sender, scale)
  const timer = setTimeout(() => {
    if (pc.connectionState !== 'closed') void startSmall(sender, 1, scale)
  }, wait)
  return () => clearTimeout(timer)
}

/**
 * On a new connection, the camera's line starts small ({@link startSmall}) and returns to full size
 * after `wait`. Returns what cancels the return (the connection is closed first).
 */
export function fastFirstPicture(pc: RTCPeerConnection, wait = FIRST_PICTURE_MS): () => void {
  const started: [RTCRtpSender, number][] = []
  for (const sender of pc.getSenders()) {
    if (sender.track?.kind !== 'video') continue
    const { width, height } = sender.track.getSettings()
    const scale = startScale(width, height)
    if (scale === 1) continue
    started.push([sender, scale])
    void startSmall(sender, scale)
  }
  if (!started.length) return () => {}
  const timer = setTimeout(() => {
    if (pc.connectionState === 'closed') return
    for (const [sender, scale] of started) void startSmall(sender, 1, scale)
  }, wait)
  return () => clearTimeout(timer)
}
