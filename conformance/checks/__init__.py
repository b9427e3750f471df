"""Every check of the kit, in the order they are reported."""

from __future__ import annotations

from conformance.checks import accounts, calls, chat, rooms, sockets, visits
from conformance.runner import Check

ALL: tuple[Check, ...] = (
    *accounts.CHECKS, *visits.CHECKS, *chat.CHECKS, *sockets.CHECKS, *calls.CHECKS, *rooms.CHECKS,
)
