/* Televisit service worker: an offline shell, and ringing when the app is closed (Web Push).
   It never caches or answers /api (REST or WebSocket): appointments, chat and calls always come
   from the server. A push carries what src/televisit/push/schemas.py defines: a ring
   ({kind: "call", room_id, appointment_id, caller_name, caller_role}), its end ("call_ended"),
   or a new message ("message", never its text). */
const CACHE = 'televisit-shell-v1'
const SHELL = ['/', '/manifest.webmanifest', '/icons/icon-192.png', '/icons/favicon.svg']

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()))
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  )
})

function isApi(url) {
  return url.pathname.startsWith('/api/') || ['/livez', '/readyz', '/metrics'].includes(url.pathname)
}

self.addEventListener('fetch', (event) => {
  const request = event.request
  const url = new URL(request.url)
  if (request.method !== 'GET' || url.origin !== self.location.origin || isApi(url)) return

  if (request.mode === 'navigate') {
    // Network first so a new release shows at once; the cached shell only when offline.
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok) caches.open(CACHE).then((cache) => cache.put('/', response.clone()))
          return response
        })
        .catch(() => caches.match('/')),
    )
    return
  }
  if (url.pathname.startsWith('/assets/') || url.pathname.startsWith('/icons/')) {
    // Hashed build files never change: cache first.
    event.respondWith(
      caches.match(request).then((hit) => hit || fetch(request).then((response) => {
        if (response.ok) {
          const copy = response.clone()
          caches.open(CACHE).then((cache) => cache.put(request, copy))
        }
        return response
      })),
    )
  }
})

// -- Ringing (Web Push) -------------------------------------------------------------------------

const ICON = '/icons/icon-192.png'

async function visibleWindows() {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true })
  return windows.filter((w) => w.visibilityState === 'visible')
}

/** What a notification says, for patients and doctors alike. */
function notificationFor(push) {
  if (push.kind === 'call') {
    return [`${push.caller_name} is calling`, {
      body: push.caller_role === 'doctor' ? 'Your video visit. Answer to join the call.' : 'Video visit. Answer to join the call.',
      tag: `call-${push.room_id}`, renotify: true, requireInteraction: true, icon: ICON,
      vibrate: [600, 300, 600, 300, 600, 300, 600],
      actions: [{ action: 'answer', title: 'Answer' }, { action: 'decline', title: 'Decline' }],
      data: push,
    }]
  }
  if (push.kind === 'call_ended') {
    // Replaces the ringing notification (same tag), so a missed call stops ringing.
    return ['Missed video call', {
      body: 'The call ended before you answered. Open Televisit to see your visit.',
      tag: `call-${push.room_id}`, renotify: false, icon: ICON, data: push,
    }]
  }
  if (push.kind === 'message') {
    return ['New message', {
      body: 'You have a new message about your visit. Open Televisit to read it.',
      tag: `message-${push.appointment_id}`, icon: ICON, data: push,
    }]
  }
  return null
}

async function showPush(push) {
  // The open app rings and shows messages by itself (a server with several instances may push
  // to someone whose app is open on another one).
  if ((await visibleWindows()).length) return
  const shown = notificationFor(push)
  if (shown) await self.registration.showNotification(...shown)
}

self.addEventListener('push', (event) => {
  let push = null
  try {
    push = event.data ? event.data.json() : null
  } catch {
    push = null
  }
  if (push) event.waitUntil(showPush(push))
})

/** Where a click leads: Answer (or the notification itself) opens the call; Decline declines. */
function intentFor(push, action) {
  if (push.kind === 'call' && action === 'decline') return { type: 'decline', room_id: push.room_id, url: `/visits?decline=${encodeURIComponent(push.room_id)}` }
  if (push.kind === 'call') return { type: 'answer', url: `/visits/${encodeURIComponent(push.appointment_id)}/call?room=${encodeURIComponent(push.room_id)}` }
  return { type: 'open', url: '/visits' }
}

async function follow(intent) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true })
  const open = windows.find((w) => new URL(w.url).origin === self.location.origin)
  if (open) {
    // The app is open (in the background): it declines over its socket, or goes to the call.
    open.postMessage({ type: 'televisit.push', intent })
    if (intent.type !== 'decline') await open.focus()
    return
  }
  // Closed: open it at the call, or with a decline to send once it is signed in and connected.
  await self.clients.openWindow(intent.url)
}

self.addEventListener('notificationclick', (event) => {
  const push = event.notification.data || {}
  event.notification.close()
  event.waitUntil(follow(intentFor(push, event.action)))
})
