"""Model-facing value types shared by providers, the router and the gateway's runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class ModelRequest:
    """One call to one model: what a provider adapter turns into its wire format."""

    model: str
    messages: tuple[ChatMessage, ...]
    system: str | None = None
    max_tokens: int = 4096
    budget_s: float | None = None
    """What is left of the turn's deadline: the adapter never waits past it."""


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class TextDelta:
    """A piece of answer text, in order."""

    text: str


@dataclass(frozen=True)
class StreamEnd:
    """The stream finished cleanly; nothing follows."""

    stop_reason: str | None = None
    usage: Usage = field(default_factory=Usage)


StreamItem = TextDelta | StreamEnd
