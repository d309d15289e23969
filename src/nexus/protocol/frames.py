"""WebSocket frames: ``req`` from the client, ``res`` and ``event`` from the gateway, all JSON.

    {"type": "req",   "id": "7", "method": "chat.send", "params": {...}}
    {"type": "res",   "id": "7", "ok": true,  "payload": {...}}
    {"type": "res",   "id": "7", "ok": false, "error": {"code": "...", "message": "..."}}
    {"type": "event", "event": NAME, "payload": {...}, "seq": 42}   (NAME: nexus.protocol.events)

``seq`` counts events per connection from 1, so a client can see that it missed some and resync
with ``run.get`` / ``chat.history``. The first request must be ``connect`` with ``{"protocol": 1}``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nexus.errors import ProtocolError
from nexus.protocol.messages import BadJSON, parse_json

PROTOCOL_VERSION = 1


class ErrorBody(BaseModel):
    code: str
    message: str


class RequestFrame(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["req"]
    id: str = Field(min_length=1, max_length=128)
    method: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


class ResponseFrame(BaseModel):
    type: Literal["res"] = "res"
    id: str
    ok: bool
    payload: dict[str, Any] | None = None
    error: ErrorBody | None = None


class EventFrame(BaseModel):
    type: Literal["event"] = "event"
    event: str
    payload: dict[str, Any]
    seq: int


class FrameError(ProtocolError):
    """A frame that is not valid JSON or not a well-formed request."""


def parse_frame(raw: str | bytes) -> RequestFrame:
    try:
        data = parse_json(raw)
    except BadJSON as exc:
        raise FrameError(f"frame is not accepted JSON: {exc}") from exc
    try:
        return RequestFrame.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "frame"
        raise FrameError(f"bad request frame: {where}: {first.get('msg')}") from exc
