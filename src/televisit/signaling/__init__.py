"""The WebSocket: authentication, typed frames, room presence, signal relay, chat delivery."""
