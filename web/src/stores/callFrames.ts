/**
 * The frames of the call in progress: which of them concern it. They run as they arrive, in their
 * order: the peer connection does not wait for the camera (calls/peer.ts, `attach`). Frames for
 * another room, or about ourselves, are ignored. What each one does is the call store's (./call.ts).
 */
import type { RelayedQuality, RoomEnded, RoomJoined } from '@/api/frames'
import { readSignal, type SignalData } from '@/calls/peer'
import type { SignalingClient } from '@/realtime/signaling'
import { JOIN_REF } from '@/boot/earlyCall'

/** Why a call ended, as the screen explains it. */
export type EndReason = RoomEnded['reason'] | 'duplicate-identity' | 'room_ended' | 'room_not_found'

export { JOIN_REF } from '@/boot/earlyCall'

/** What the call store does with its frames. */
export interface RemoteExtra {
  screen: boolean
  audioOnly: boolean
  reason: 'manual' | 'network' | null
}

export interface CallFrameHandlers {
  /** Whether frames about this room concern the call: it is the call's room and the call goes on. */
  inRoom(roomId: string): boolean
  /** Whether a call is set up and not ended (an error answering our `room.join` is about it). */
  inCall(): boolean
  me(): string | undefined
  /** `room.joined` arrived: the room took us in (before `joined`). */
  entered(roomId: string): void
  joined(frame: RoomJoined): void
  otherJoined(): void
  otherLeft(): void
  signal(data: SignalData): void
  /** The other side's media: microphone, camera, and (newer clients) screen share and audio only. */
  remoteMedia(audio: boolean, video: boolean, extra: RemoteExtra): void
  /** The other person's network quality, as their browser measured it. */
  otherQuality(level: RelayedQuality['level']): void
  ended(reason: EndReason): void
  joinFailed(message: string): void
}

export function listenToCallFrames(client: Pick<SignalingClient, 'on'>, call: CallFrameHandlers): void {
  const aboutOther = (roomId: string, userId: string) => call.inRoom(roomId) && userId !== call.me()

  client.on('room.joined', (frame) => {
    if (!call.inRoom(frame.room.id)) return
    call.entered(frame.room.id)
    call.joined(frame)
  })
  client.on('participant.joined', (frame) => {
    if (aboutOther(frame.room_id, frame.participant.user_id)) call.otherJoined()
  })
  client.on('participant.left', (frame) => {
    if (aboutOther(frame.room_id, frame.participant.user_id)) call.otherLeft()
  })
  client.on('signal', (frame) => {
    const data = readSignal(frame.data)
    if (data && call.inRoom(frame.room_id)) call.signal(data)
  })
  client.on('media.state', (frame) => {
    if (call.inRoom(frame.room_id)) {
      call.remoteMedia(frame.audio, frame.video, {
        // A server that predates these fields leaves them out: off.
        screen: frame.screen ?? false, audioOnly: frame.audio_only ?? false, reason: frame.audio_only_reason ?? null,
      })
    }
  })
  client.on('quality', (frame) => {
    if (aboutOther(frame.room_id, frame.user_id)) call.otherQuality(frame.level)
  })
  client.on('room.ended', (frame) => {
    if (call.inRoom(frame.room_id)) call.ended(frame.reason)
  })
  client.on('call.declined', (frame) => {
    if (call.inRoom(frame.room_id)) call.ended('declined')
  })
  client.on('room.replaced', (frame) => {
    if (call.inRoom(frame.room_id)) call.ended('duplicate-identity')
  })
  client.on('error', (frame) => {
    if (frame.ref !== JOIN_REF || !call.inCall()) return
    if (frame.code === 'room_ended' || frame.code === 'room_not_found') call.ended(frame.code)
    else call.joinFailed(frame.message || 'Could not join the call.')
  })
}
