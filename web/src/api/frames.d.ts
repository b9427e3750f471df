/**
 * The WebSocket frames both ways (generated from asyncapi.json by `npm run gen:frames`; do not edit:
 * change src/televisit/signaling/frames.py, then run `make openapi`).
 */

/**
 * Any frame, either way.
 */
export type Frame = ClientFrame | ServerFrame;
export type ClientFrame =
  | AuthFrame
  | Ping
  | RoomJoin
  | RoomLeave
  | Signal
  | MediaState
  | CallDecline
  | ChatSend
  | ChatSync
  | IceRefresh
  | QualityReport;
export type ServerFrame =
  | Ready
  | Pong
  | ErrorFrame
  | RoomJoined
  | RoomLeft
  | RoomReplaced
  | ParticipantJoined
  | ParticipantLeft
  | RelayedSignal
  | RelayedMediaState
  | RelayedQuality
  | RoomEnded
  | CallIncoming
  | CallAnswered
  | CallDeclined
  | CallDeclineAccepted
  | CallCancelled
  | AppointmentUpdated
  | AppointmentCreated
  | ChatMessage
  | ChatRead
  | ChatAck
  | ChatSynced
  | SessionEnded
  | ServerDraining
  | IceServers;
export type RoomStatus = "in-progress" | "completed" | "failed";
export type AppointmentStatus = "scheduled" | "in_progress" | "completed" | "cancelled" | "missed";

/**
 * The first frame of every connection, within 5 s: answered with `ready`.
 */
export interface AuthFrame {
  /**
   * Echoed in the replies to this frame.
   */
  ref?: string | number | null;
  type: "auth";
  token: string;
}
/**
 * An application-level liveness check: answered with `pong`.
 */
export interface Ping {
  /**
   * Echoed in the replies to this frame.
   */
  ref?: string | number | null;
  type: "ping";
}
/**
 * Enter a call's room (the callee's join is the answer): `room.joined`.
 */
export interface RoomJoin {
  /**
   * Echoed in the replies to this frame.
   */
  ref?: string | number | null;
  type: "room.join";
  room_id: string;
}
export interface RoomLeave {
  /**
   * Echoed in the replies to this frame.
   */
  ref?: string | number | null;
  type: "room.leave";
  room_id: string;
}
/**
 * SDP or an ICE candidate for the other participant, relayed as `signal`.
 */
export interface Signal {
  /**
   * Echoed in the replies to this frame.
   */
  ref?: string | number | null;
  type: "signal";
  room_id: string;
  /**
   * Opaque SDP or ICE candidate, relayed as is.
   */
  data: {
    [k: string]: unknown;
  };
}
/**
 * Microphone and camera on or off, relayed to the other participant.
 */
export interface MediaState {
  /**
   * Echoed in the replies to this frame.
   */
  ref?: string | number | null;
  type: "media.state";
  room_id: string;
  audio: boolean;
  video: boolean;
  /**
   * The sender is sharing a screen or window: on the call's second video line, beside their camera (or in the camera's place where the other side's app has no such line).
   */
  screen?: boolean;
  /**
   * The sender asks for audio only: both sides stop sending video until it is false again.
   */
  audio_only?: boolean;
  /**
   * Why audio only: `manual` (the person chose it) or `network` (their link stayed weak); null when `audio_only` is false.
   */
  audio_only_reason?: ("manual" | "network") | null;
}
export interface CallDecline {
  /**
   * Echoed in the replies to this frame.
   */
  ref?: string | number | null;
  type: "call.decline";
  room_id: string;
}
/**
 * Store a message (acknowledged with `chat.ack`); resending a `client_msg_id` is safe.
 */
export interface ChatSend {
  /**
   * Echoed in the replies to this frame.
   */
  ref?: string | number | null;
  type: "chat.send";
  appointment_id: string;
  client_msg_id: string;
  /**
   * Plain text, not only whitespace; at most TELEVISIT_CHAT_MAX_LENGTH characters (default 4000).
   */
  body: string;
}
/**
 * Replay every message after `after_seq` as `chat.message` frames, then `chat.synced`.
 */
export interface ChatSync {
  /**
   * Echoed in the replies to this frame.
   */
  ref?: string | number | null;
  type: "chat.sync";
  appointment_id: string;
  after_seq?: number;
}
/**
 * Fresh TURN credentials for a live room of yours, before the ones you hold expire: `ice.servers`.
 */
export interface IceRefresh {
  /**
   * Echoed in the replies to this frame.
   */
  ref?: string | number | null;
  type: "ice.refresh";
  room_id: string;
}
/**
 * Your own connection's quality, relayed to the other participant as `quality`.
 */
export interface QualityReport {
  /**
   * Echoed in the replies to this frame.
   */
  ref?: string | number | null;
  type: "quality.report";
  room_id: string;
  /**
   * The sender's own network quality as its browser measures it (round trip, packet loss, received frame rate and bitrate), in LiveKit's four levels: excellent, good, poor, lost.
   */
  level: "excellent" | "good" | "poor" | "lost";
}
/**
 * The token was accepted: the connection is open for every other frame.
 */
export interface Ready {
  /**
   * The `ref` of the frame this answers.
   */
  ref: string | number | null;
  type: "ready";
  user_id: string;
  connection_id: string;
}
export interface Pong {
  /**
   * The `ref` of the frame this answers.
   */
  ref: string | number | null;
  type: "pong";
}
/**
 * A frame was refused; the connection stays open unless a close follows.
 */
export interface ErrorFrame {
  /**
   * The `ref` of the frame this answers.
   */
  ref: string | number | null;
  type: "error";
  /**
   * One of the codes listed under `x-error-codes`.
   */
  code: string;
  message: string;
  details: unknown;
}
export interface RoomJoined {
  /**
   * The `ref` of the frame this answers.
   */
  ref: string | number | null;
  type: "room.joined";
  room: RoomPublic;
  participants: ParticipantPublic[];
  ice_servers: IceServer[];
  /**
   * RTCPeerConnection iceTransportPolicy to apply: `relay` sends all media through TURN, so neither side learns the other's IP address.
   */
  ice_transport_policy: "all" | "relay";
  /**
   * Perfect negotiation: the polite peer yields on glare.
   */
  polite: boolean;
}
export interface RoomPublic {
  id: string;
  appointment_id: string;
  status: RoomStatus;
  created_at: string;
  ended_at: string | null;
  end_reason: string | null;
  participants: ParticipantPublic[];
}
export interface ParticipantPublic {
  user_id: string;
  role: string;
  joined_at: string;
  left_at: string | null;
}
export interface IceServer {
  urls: string[];
  username?: string | null;
  credential?: string | null;
}
export interface RoomLeft {
  /**
   * The `ref` of the frame this answers.
   */
  ref: string | number | null;
  type: "room.left";
  room_id: string;
}
/**
 * The same user joined from another connection: this one is out of the room (not closed).
 */
export interface RoomReplaced {
  type: "room.replaced";
  room_id: string;
  reason: "duplicate-identity";
}
export interface ParticipantJoined {
  type: "participant.joined";
  room_id: string;
  participant: ParticipantPublic;
}
export interface ParticipantLeft {
  type: "participant.left";
  room_id: string;
  participant: ParticipantPublic;
}
/**
 * The other participant's `signal`.
 */
export interface RelayedSignal {
  type: "signal";
  room_id: string;
  /**
   * The sender's user id.
   */
  from: string;
  data: {
    [k: string]: unknown;
  };
}
/**
 * The other participant turned their microphone or camera on or off.
 */
export interface RelayedMediaState {
  type: "media.state";
  room_id: string;
  /**
   * The sender's user id.
   */
  from: string;
  audio: boolean;
  video: boolean;
  /**
   * The sender is sharing a screen or window: on the call's second video line, beside their camera (or in the camera's place where the other side's app has no such line).
   */
  screen: boolean;
  /**
   * The sender asks for audio only: both sides stop sending video until it is false again.
   */
  audio_only: boolean;
  /**
   * Why audio only: `manual` (the person chose it) or `network` (their link stayed weak); null when `audio_only` is false.
   */
  audio_only_reason: ("manual" | "network") | null;
}
/**
 * The other participant's network quality (their `quality.report`).
 */
export interface RelayedQuality {
  type: "quality";
  room_id: string;
  /**
   * Whose connection this is (the sender's user id).
   */
  user_id: string;
  /**
   * The sender's own network quality as its browser measures it (round trip, packet loss, received frame rate and bitrate), in LiveKit's four levels: excellent, good, poor, lost.
   */
  level: "excellent" | "good" | "poor" | "lost";
}
export interface RoomEnded {
  type: "room.ended";
  room_id: string;
  reason: "ended" | "declined" | "unused-timeout" | "empty-timeout" | "max-duration";
  status: string;
}
/**
 * The other party started the call: ring.
 */
export interface CallIncoming {
  type: "call.incoming";
  room_id: string;
  appointment_id: string;
  from: Caller;
  /**
   * The doctor admitted a patient waiting in the visit's waiting room: join the room at once, without asking to accept.
   */
  auto_join: boolean;
}
export interface Caller {
  id: string;
  full_name: string;
  role: string;
}
/**
 * You answered on another device: stop ringing here.
 */
export interface CallAnswered {
  type: "call.answered";
  room_id: string;
}
/**
 * The callee declined.
 */
export interface CallDeclined {
  type: "call.declined";
  room_id: string;
  appointment_id: string;
  by: string;
}
/**
 * Your `call.decline` ended the call.
 */
export interface CallDeclineAccepted {
  /**
   * The `ref` of the frame this answers.
   */
  ref: string | number | null;
  type: "call.declined.ok";
  room_id: string;
}
/**
 * The call ended before you answered: stop ringing.
 */
export interface CallCancelled {
  type: "call.cancelled";
  room_id: string;
  appointment_id: string;
  reason: "ended" | "declined" | "unused-timeout" | "empty-timeout" | "max-duration";
}
export interface AppointmentUpdated {
  type: "appointment.updated";
  appointment: AppointmentPublic;
}
export interface AppointmentPublic {
  id: string;
  doctor: PersonRef;
  patient: PersonRef;
  starts_at: string;
  duration_minutes: number;
  reason: string | null;
  status: AppointmentStatus;
  created_at: string;
  cancelled_at: string | null;
  cancel_reason: string | null;
  room_id: string | null;
  /**
   * null: the patient has not checked in.
   */
  check_in: CheckInPublic | null;
  /**
   * Messages from the other party after your read marker.
   */
  unread_count: number;
  last_message_at: string | null;
  /**
   * After this, the conversation is read-only (409 `conversation_closed`).
   */
  messaging_until: string;
  /**
   * The visit's live or last call.
   */
  call: CallSummary | null;
  /**
   * The doctor is in another live call now (shown to the patient only; false for the doctor).
   */
  doctor_busy: boolean;
}
/**
 * Who someone is, as shown to the other party of an appointment.
 */
export interface PersonRef {
  id: string;
  full_name: string;
}
/**
 * The patient is in the waiting room (``present``) or was (``left_at``).
 */
export interface CheckInPublic {
  /**
   * When she (last) checked in.
   */
  at: string;
  /**
   * She is there now: checked in, connected, and not gone.
   */
  present: boolean;
  /**
   * When she left (explicitly, or her connection was gone longer than TELEVISIT_PRESENCE_GRACE).
   */
  left_at: string | null;
  checks: Checks;
}
/**
 * The pre-call check's results, as the patient's device measured them.
 */
export interface Checks {
  camera: "ok" | "failed" | "skipped";
  microphone: "ok" | "failed" | "skipped";
  /**
   * null: the network test did not run.
   */
  network: NetworkCheck | null;
}
/**
 * The short network test of the pre-call check.
 */
export interface NetworkCheck {
  /**
   * Round trip, milliseconds.
   */
  rtt_ms: number | null;
  bitrate_kbps: number | null;
  turn: "ok" | "failed" | "skipped";
  /**
   * Round trip of a ping over the signaling WebSocket, milliseconds.
   */
  signaling_rtt_ms?: number | null;
}
/**
 * The visit's live or last call.
 */
export interface CallSummary {
  room_id: string;
  started_at: string;
  ended_at: string | null;
  /**
   * From the first join to the end (null while live, or when nobody joined).
   */
  duration_seconds: number | null;
}
/**
 * A visit of yours was booked (both people hear it).
 */
export interface AppointmentCreated {
  type: "appointment.created";
  appointment: AppointmentPublic;
}
/**
 * A message of a conversation you are in (yours too, for your other devices).
 */
export interface ChatMessage {
  type: "chat.message";
  message: MessagePublic;
}
export interface MessagePublic {
  id: string;
  seq: number;
  appointment_id: string;
  sender_id: string;
  client_msg_id: string;
  body: string;
  created_at: string;
}
/**
 * Someone of the conversation read up to ``seq``: your other devices clear their unread
 * count (``reader_id`` is you), or the other party's read receipt.
 */
export interface ChatRead {
  type: "chat.read";
  appointment_id: string;
  reader_id: string;
  seq: number;
}
/**
 * Your message is stored.
 */
export interface ChatAck {
  /**
   * The `ref` of the frame this answers.
   */
  ref: string | number | null;
  type: "chat.ack";
  client_msg_id: string;
  seq: number;
  id: string;
  appointment_id: string;
}
/**
 * The replay after `chat.sync` is complete.
 */
export interface ChatSynced {
  /**
   * The `ref` of the frame this answers.
   */
  ref: string | number | null;
  type: "chat.synced";
  appointment_id: string;
  last_seq: number;
}
/**
 * Your session ended; close 4401 follows.
 */
export interface SessionEnded {
  type: "session.ended";
  reason: "logged-out" | "expired" | "revoked" | "deactivated";
}
/**
 * This instance is stopping: reconnect (you will reach another one) and resume.
 */
export interface ServerDraining {
  type: "server.draining";
}
/**
 * The answer to `ice.refresh`; a browser applies it with
 * `pc.setConfiguration({...pc.getConfiguration(), iceServers})`.
 */
export interface IceServers {
  /**
   * The `ref` of the frame this answers.
   */
  ref: string | number | null;
  type: "ice.servers";
  room_id: string;
  ice_servers: IceServer[];
  /**
   * RTCPeerConnection iceTransportPolicy to apply: `relay` sends all media through TURN, so neither side learns the other's IP address.
   */
  ice_transport_policy: "all" | "relay";
  /**
   * When the TURN credentials expire (null without TURN): refresh before then.
   */
  expires_at: string | null;
}

export interface ClientFrameMap {
  "auth": AuthFrame;
  "ping": Ping;
  "room.join": RoomJoin;
  "room.leave": RoomLeave;
  "signal": Signal;
  "media.state": MediaState;
  "call.decline": CallDecline;
  "chat.send": ChatSend;
  "chat.sync": ChatSync;
  "ice.refresh": IceRefresh;
  "quality.report": QualityReport;
}

export interface ServerFrameMap {
  "ready": Ready;
  "pong": Pong;
  "error": ErrorFrame;
  "room.joined": RoomJoined;
  "room.left": RoomLeft;
  "room.replaced": RoomReplaced;
  "participant.joined": ParticipantJoined;
  "participant.left": ParticipantLeft;
  "signal": RelayedSignal;
  "media.state": RelayedMediaState;
  "quality": RelayedQuality;
  "room.ended": RoomEnded;
  "call.incoming": CallIncoming;
  "call.answered": CallAnswered;
  "call.declined": CallDeclined;
  "call.declined.ok": CallDeclineAccepted;
  "call.cancelled": CallCancelled;
  "appointment.updated": AppointmentUpdated;
  "appointment.created": AppointmentCreated;
  "chat.message": ChatMessage;
  "chat.read": ChatRead;
  "chat.ack": ChatAck;
  "chat.synced": ChatSynced;
  "session.ended": SessionEnded;
  "server.draining": ServerDraining;
  "ice.servers": IceServers;
}

/** The `type` of every frame the server sends / a client sends. */
export type ServerFrameType = keyof ServerFrameMap;
export type ClientFrameType = keyof ClientFrameMap;
/** The frame of one `type`: `ServerFrameOf<'chat.message'>` is `ChatMessage`. */
export type ServerFrameOf<T extends ServerFrameType> = ServerFrameMap[T];
export type ClientFrameOf<T extends ClientFrameType> = ClientFrameMap[T];
