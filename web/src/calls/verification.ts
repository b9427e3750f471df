/**
 * The call verification code: both people's screens show the same six digits exactly when each
 * browser's media is encrypted with the other's keys.
 *
 * WebRTC encrypts media end to end with DTLS-SRTP; each side's certificate is named by the
 * `a=fingerprint` line of the description it sends through our signaling server. Someone in the
 * middle (even that server) who swapped the descriptions would have to put its own certificates
 * in, so each side would see a different pair of fingerprints. The code is a hash of the pair
 * (sorted, so both sides compute it alike): read aloud, equal codes mean no swap took place.
 * Six digits are 20 bits: enough to catch a substitution, not a proof against an attacker who
 * could try about a million certificates while the call is set up (docs/security.md).
 */

const FINGERPRINT = /^a=fingerprint:(\S+)\s+([0-9A-Fa-f:]+)\s*$/gm

/** Every certificate fingerprint in a description, as `algorithm HEX:HEX…`, without repeats. */
export function fingerprints(sdp: string): string[] {
  const found = new Set<string>()
  for (const match of sdp.matchAll(FINGERPRINT)) found.add(`${match[1].toLowerCase()} ${match[2].toUpperCase()}`)
  return [...found]
}

/** Six digits from the fingerprints of both descriptions; null until both have one. */
export async function verificationCode(localSdp: string, remoteSdp: string): Promise<string | null> {
  const local = fingerprints(localSdp)
  const remote = fingerprints(remoteSdp)
  if (!local.length || !remote.length) return null
  const all = [...new Set([...local, ...remote])].sort()
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(all.join('\n'))))
  const number = new DataView(digest.buffer).getUint32(0) % 1_000_000
  return number.toString().padStart(6, '0')
}

/** "123 456": easier to read aloud. */
export function spaced(code: string): string {
  return `${code.slice(0, 3)} ${code.slice(3)}`
}

/** The code of a live peer connection (null before both descriptions are set). */
export async function codeOf(pc: RTCPeerConnection | null): Promise<string | null> {
  const local = pc?.currentLocalDescription ?? pc?.localDescription
  const remote = pc?.currentRemoteDescription ?? pc?.remoteDescription
  if (!local?.sdp || !remote?.sdp) return null
  return verificationCode(local.sdp, remote.sdp)
}
