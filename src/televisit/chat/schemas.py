from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from televisit.core.schemas import SettingBound
from televisit.core.text import TEXT_PATTERN, Pattern, printable

ClientMsgId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$"),
]


# Plain text, never rendered as HTML. The exact limit (TELEVISIT_CHAT_MAX_LENGTH, default 4,000)
# and "not only whitespace" are checked by the service (422 `message_too_long`, `empty_message`);
# the schema states both, with the limit this server has.
MessageBody = Annotated[
    str,
    StringConstraints(min_length=1, max_length=65536),  # the setting's own ceiling
    AfterValidator(printable),
    Field(description="Plain text, not only whitespace; at most TELEVISIT_CHAT_MAX_LENGTH "
                      "characters (default 4000)."),
    Pattern(TEXT_PATTERN),
    SettingBound("maxLength", "chat_max_length"),
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


class ReadMarker(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: StrictInt = Field(ge=0, le=2**31 - 1, description="The highest `seq` you have read; a lower one "
                                                       "than your marker changes nothing.")
