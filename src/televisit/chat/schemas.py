from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from televisit.core.text import printable

ClientMsgId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$"),
]


# Plain text, never rendered as HTML; the exact limit (default 4,000) is a setting.
MessageBody = Annotated[
    str,
    StringConstraints(min_length=1, max_length=16384),
    AfterValidator(printable),
    Field(description="Plain text; at most `chat_max_length` characters (default 4000)."),
]


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_msg_id: ClientMsgId = Field(description="Chosen by the client; resending it is safe.")
    body: MessageBody


class MessagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    seq: int
    appointment_id: uuid.UUID
    sender_id: uuid.UUID
    client_msg_id: str
    body: str
    created_at: datetime


class MessageList(BaseModel):
    items: list[MessagePublic]
    next_cursor: str | None = Field(description="Pass as `after_seq` to read on.")
