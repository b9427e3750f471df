from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from televisit.rooms.models import RoomStatus


class ParticipantPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: uuid.UUID
    role: str
    joined_at: datetime
    left_at: datetime | None


class RoomPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    appointment_id: uuid.UUID
    status: RoomStatus
    created_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    participants: list[ParticipantPublic]


class IceServer(BaseModel):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


# The RTCPeerConnection `iceTransportPolicy` clients apply (TELEVISIT_ICE_TRANSPORT_POLICY):
# `relay` keeps each side's IP address from the other (every candidate is the TURN server's).
IceTransportPolicy = Literal["all", "relay"]
ICE_TRANSPORT_POLICY_DESCRIPTION = (
    "RTCPeerConnection iceTransportPolicy to apply: `relay` sends all media through TURN, so "
    "neither side learns the other's IP address.")


class NetworkTestPublic(BaseModel):
    """What the pre-call check needs to test TURN before any room exists."""

    ice_servers: list[IceServer] = Field(description="RTCIceServer list; TURN credentials live 2 minutes.")
    ice_transport_policy: IceTransportPolicy = Field(description=ICE_TRANSPORT_POLICY_DESCRIPTION)


class CallPublic(BaseModel):
    room: RoomPublic
    ice_servers: list[IceServer] = Field(description="RTCIceServer list, TURN credentials time-limited.")
    ice_transport_policy: IceTransportPolicy = Field(description=ICE_TRANSPORT_POLICY_DESCRIPTION)

