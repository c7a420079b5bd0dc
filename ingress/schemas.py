"""The ingress's request and response models; inputs forbid unknown fields."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class MessageIn(BaseModel):
    """``POST /v1/messages``: callers cannot set tenant, status, or any id but the conversation."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: str = Field(min_length=1, max_length=256)
    text: str = Field(min_length=1, max_length=4096)
    conversation_id: str | None = Field(default=None, min_length=1, max_length=128)
    metadata: dict[str, Any] | None = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return value

    @field_validator("metadata")
    @classmethod
    def _no_operator_keys(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _check_keys(value, depth=0)
        return value


class UserRef(BaseModel):
    """``POST /v1/privacy/erase`` and ``/export``: the end user, as the channels name them."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: str = Field(min_length=1, max_length=256)


class UploadRef(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    upload_id: str = Field(min_length=1, max_length=64)


class WebMessageIn(BaseModel):
    """A ``message`` frame on ``GET /v1/ws`` (docs/widget-protocol.md); text as in
    ``MessageIn``, but it may be empty when the message is only uploads."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["message"]
    client_message_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    text: str = Field(default="", max_length=4096)
    payload: str | None = Field(default=None, min_length=1, max_length=1000)
    attachments: list[UploadRef] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _says_something(self) -> WebMessageIn:
        if not self.text.strip() and not self.attachments:
            raise ValueError("a message needs text or an attachment")
        return self


INT64 = -(2**63)  # the smallest integer BSON stores; the largest is -INT64 - 1


def _check_keys(value: Any, depth: int) -> None:
    """Metadata is stored as given: keys may not be empty or look like MongoDB operators or
    paths, an array may not hold an array directly (FerretDB v1 cannot store that), and
    integers must fit in BSON's 64 bits."""
    if depth > 8:
        raise ValueError("metadata is nested too deeply")
    if isinstance(value, dict):
        for key, item in value.items():
            if not key or key.startswith("$") or "." in key:
                raise ValueError(
                    f"metadata key {key!r} may not be empty, start with '$' or contain '.'"
                )
            _check_keys(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, list):
                raise ValueError("metadata arrays may not hold arrays directly")
            _check_keys(item, depth + 1)
    elif isinstance(value, int) and not isinstance(value, bool) and not INT64 <= value < -INT64:
        raise ValueError("metadata numbers must fit in 64 bits")


class Accepted(BaseModel):
    message_id: str
    conversation_id: str
    status: str
