"""What the admin API answers about accounts."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from televisit.users.models import Role


class AdminUserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    is_active: bool
    invited: bool = Field(description="A patient a doctor booked by email, who has not chosen a password "
                                      "(she opens her visits from their emailed links).")
    created_at: datetime
    updated_at: datetime


class AdminUserDetail(AdminUserPublic):
    open_sessions: int = Field(description="Signed-in sessions that are neither revoked nor expired.")
    recent_failed_sign_ins: int = Field(
        description="Failed sign-ins for this email inside the throttling window (what clearing removes)."
    )
    mfa_enabled: bool = Field(description="Two-factor sign-in is on (an admin can reset it).")


class AdminUserList(BaseModel):
    items: list[AdminUserPublic]
    next_cursor: str | None


class RevokedSessions(BaseModel):
    revoked: int = Field(description="How many sessions were ended.")


class MfaReset(BaseModel):
    reset: bool = Field(description="Whether two-factor sign-in was on (and is now off).")


class ClearedThrottling(BaseModel):
    cleared: int = Field(description="How many recorded failed sign-ins were removed.")
