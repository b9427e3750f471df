"""Prometheus metrics: one registry per app (no module globals).

Domain counters are fed from the events each commit publishes (`televisit.runtime` maps them), so
the services stay free of metrics code and a count is made once per cluster (by the instance that
committed), never once per receiving instance.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

TIMEOUT_REASONS = frozenset({"unused-timeout", "empty-timeout", "max-duration"})
CALL_STAGES = ("started", "answered", "declined", "cancelled")
MAIL_QUEUE_STATES = ("due", "scheduled", "sending")
MAIL_FAILURES = ("retry", "failed")
MAIL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_duration = Histogram(
            "televisit_http_request_duration_seconds", "HTTP request latency by route template.",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=r)
        self.websockets_open = Gauge(
            "televisit_websockets_open", "Authenticated WebSocket connections on this instance.", registry=r)
        self.rooms_live = Gauge(
            "televisit_rooms_live", "Rooms in progress (read from the database at scrape time).", registry=r)
        self.signals = Counter(
            "televisit_signals_relayed", "Signaling frames (SDP, ICE) relayed by this instance.", registry=r)
        self.chat_messages = Counter(
            "televisit_chat_messages", "Chat messages stored (new ones, not idempotent repeats).", registry=r)
        self.call_setups = Counter(
            "televisit_call_setups", "Call set-up steps: started, answered, declined, cancelled.",
            ["stage"], registry=r)
        self.room_timeouts = Counter(
            "televisit_room_timeouts", "Rooms ended by a timer, by reason.", ["reason"], registry=r)
        self.mail_queue = Gauge(
            "televisit_mail_queue", "Outbox messages by state: due now, scheduled later (reminders, "
            "retries), being sent (read from the database at scrape time).", ["state"], registry=r)
        self.mail_sent = Counter(
            "televisit_mail_sent", "Messages accepted by the SMTP server (or the dev mailbox), by kind.",
            ["kind"], registry=r)
        self.mail_failures = Counter(
            "televisit_mail_failures", "Failed sends: `retry` will be tried again, `failed` was given up.",
            ["outcome"], registry=r)
        self.mail_send_duration = Histogram(
            "televisit_mail_send_duration_seconds", "Time to hand one message to the SMTP server.",
            buckets=MAIL_BUCKETS, registry=r)
        for state in MAIL_QUEUE_STATES:
            self.mail_queue.labels(state)
        for outcome in MAIL_FAILURES:
            self.mail_failures.labels(outcome)
        for stage in CALL_STAGES:
            self.call_setups.labels(stage)
        for reason in TIMEOUT_REASONS:
            self.room_timeouts.labels(reason)

    def observe_request(self, method: str, route: str | None, status: int, seconds: float) -> None:
        # Unmatched paths share one label so a scan of random URLs cannot grow the series without end.
        self.http_duration.labels(method, route or "unmatched", str(status)).observe(seconds)
