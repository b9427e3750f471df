from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from televisit.users.schemas import UserPublic


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Not EmailStr: a malformed address is just a wrong login, answered like any other.
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires if it is not used.")
    user: UserPublic
