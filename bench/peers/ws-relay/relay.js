// A bare Node.js `ws` signaling relay: the minimal equivalent of Televisit's /api/v1/ws for
// what bench/signaling.py measures. First-frame auth (one shared token), room.join, and the
// relay of `signal` frames to the other member of the room, with a JSON parse and a
// JSON stringify per message, a per-connection token bucket and the 64 KiB frame limit.
// No database, no broker, no typed validation: the floor our stack is compared against.
//
//   RELAY_PORT=9001 RELAY_TOKEN=secret node relay.js
// Optional: RELAY_HOST (127.0.0.1), RELAY_DEFLATE=1 (permessage-deflate with the settings
// uvicorn uses: 12-bit windows, memLevel 5), TELEVISIT_WS_RATE_PER_SECOND / _BURST.
'use strict';

const crypto = require('crypto');
const { WebSocketServer } = require('ws');

const host = process.env.RELAY_HOST || '127.0.0.1';
const port = Number(process.env.RELAY_PORT || 9001);
const token = process.env.RELAY_TOKEN || '';
const rate = Number(process.env.TELEVISIT_WS_RATE_PER_SECOND || 50);
const burst = Number(process.env.TELEVISIT_WS_RATE_BURST || 200);
const AUTH_TIMEOUT_MS = 5000;
const PING_INTERVAL_MS = 20000;

if (!token) {
  console.error('RELAY_TOKEN is required');
  process.exit(2);
}

const deflate = process.env.RELAY_DEFLATE === '1'
  ? { serverMaxWindowBits: 12, clientMaxWindowBits: 12, zlibDeflateOptions: { memLevel: 5 } }
  : false;

const wss = new WebSocketServer({ host, port, maxPayload: 64 * 1024, perMessageDeflate: deflate });
const rooms = new Map(); // room id -> Set of sockets

function send(ws, frame) {
  ws.send(JSON.stringify(frame));
}

function error(ws, code, message, ref) {
  send(ws, { type: 'error', code, message, ref: ref === undefined ? null : ref, details: null });
}

function take(ws) {
  const now = performance.now();
  ws.tokens = Math.min(burst, ws.tokens + ((now - ws.stamp) / 1000) * rate);
  ws.stamp = now;
  if (ws.tokens < 1) return false;
  ws.tokens -= 1;
  return true;
}

function leave(ws, roomId) {
  const members = rooms.get(roomId);
  if (!members) return;
  members.delete(ws);
  ws.rooms.delete(roomId);
  if (members.size === 0) rooms.delete(roomId);
  else for (const other of members) send(other, { type: 'participant.left', room_id: roomId, participant: { user_id: ws.userId } });
}

function onFrame(ws, frame) {
  switch (frame.type) {
    case 'signal': {
      const members = rooms.get(frame.room_id);
      if (!members || !members.has(ws)) return error(ws, 'not_in_room', 'Join the room before signaling in it.', frame.ref);
      if (frame.data === null || typeof frame.data !== 'object' || Array.isArray(frame.data)) {
        return error(ws, 'invalid_frame', 'The frame is not valid.', frame.ref);
      }
      const out = JSON.stringify({ type: 'signal', room_id: frame.room_id, from: ws.userId, data: frame.data });
      for (const other of members) if (other !== ws) other.send(out);
      return;
    }
    case 'room.join': {
      if (typeof frame.room_id !== 'string') return error(ws, 'invalid_frame', 'The frame is not valid.', frame.ref);
      let members = rooms.get(frame.room_id);
      if (!members) rooms.set(frame.room_id, (members = new Set()));
      if (members.size >= 2 && !members.has(ws)) return error(ws, 'room_not_found', 'No such room.', frame.ref);
      members.add(ws);
      ws.rooms.add(frame.room_id);
      for (const other of members) {
        if (other !== ws) send(other, { type: 'participant.joined', room_id: frame.room_id, participant: { user_id: ws.userId } });
      }
      return send(ws, { type: 'room.joined', ref: frame.ref, room: { id: frame.room_id },
        participants: [...members].map((m) => ({ user_id: m.userId })), ice_servers: [], polite: members.size > 1 });
    }
    case 'room.leave':
      leave(ws, frame.room_id);
      return send(ws, { type: 'room.left', ref: frame.ref, room_id: frame.room_id });
    case 'ping':
      return send(ws, { type: 'pong', ref: frame.ref });
    case 'auth':
      return error(ws, 'already_authenticated', 'This connection is already authenticated.', frame.ref);
    default:
      return error(ws, 'unknown_type', `Unknown frame type ${JSON.stringify(frame.type)}.`, frame.ref);
  }
}

wss.on('connection', (ws) => {
  ws.userId = null;
  ws.rooms = new Set();
  ws.alive = true;
  ws.tokens = burst;
  ws.stamp = performance.now();
  const authTimer = setTimeout(() => {
    error(ws, 'auth_timeout', 'Send {type: auth, token} first.');
    ws.close(4401, 'authentication timeout');
  }, AUTH_TIMEOUT_MS);

  ws.on('pong', () => { ws.alive = true; });
  ws.on('message', (raw, isBinary) => {
    if (isBinary) return error(ws, 'binary_not_supported', 'Send JSON text frames.');
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return error(ws, 'malformed_json', 'The frame is not valid JSON.');
    }
    if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
      return error(ws, 'invalid_frame', 'A frame must be a JSON object.');
    }
    if (ws.userId === null) {
      clearTimeout(authTimer);
      if (frame.type !== 'auth' || frame.token !== token) {
        error(ws, 'not_authenticated', 'The first frame must be {type: auth, token}.', frame.ref);
        return ws.close(4401, 'not authenticated');
      }
      ws.userId = crypto.randomUUID();
      return send(ws, { type: 'ready', ref: frame.ref, user_id: ws.userId, connection_id: crypto.randomUUID() });
    }
    if (!take(ws)) {
      error(ws, 'rate_limited', 'Too many frames.');
      return ws.close(1008, 'flood');
    }
    onFrame(ws, frame);
  });
  ws.on('close', () => {
    clearTimeout(authTimer);
    for (const roomId of [...ws.rooms]) leave(ws, roomId);
  });
});

// Heartbeat like uvicorn's: a WebSocket ping every 20 s, a peer that missed one is dropped.
const heartbeat = setInterval(() => {
  for (const ws of wss.clients) {
    if (!ws.alive) { ws.terminate(); continue; }
    ws.alive = false;
    ws.ping();
  }
}, PING_INTERVAL_MS);

wss.on('listening', () => console.log(`ws-relay listening on ${host}:${port}`));
function stop() {
  clearInterval(heartbeat);
  for (const ws of wss.clients) ws.terminate();
  wss.close(() => process.exit(0));
}
process.on('SIGTERM', stop);
// The benchmark asks for a full collection before it reads RSS (run with --expose-gc), so
// garbage V8 has not collected yet is not counted as memory per connection.
// It also prints V8's own figures: live JS memory without the allocator's slack.
process.on('SIGUSR2', () => {
  if (global.gc) global.gc();
  const m = process.memoryUsage();
  console.log(JSON.stringify({ memory: { rss: m.rss, heapUsed: m.heapUsed, external: m.external, clients: wss.clients.size } }));
});
process.on('SIGINT', stop);
