"""What a caller asks of the model layer (one call) and what it hears back (events, a result).

``Router.complete(CallRequest, sink) -> CallResult`` is ONE model call with fallback across the
candidates: text, tool calls, usage and which candidate answered. A turn that runs tools is several
calls, and belongs to the caller: it appends ``result.message`` and the tools' results to the
messages and calls again (any candidate can continue: the request carries the whole block history).

The router emits events through a plain callback so the gateway can put them on its event bus
without the model layer knowing about WebSockets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nexus.config.schema import ModelRef
from nexus.errors import NexusError
from nexus.models.types import ChatMessage, ContentBlock, TextBlock, ToolCall, ToolSpec, ToolUseBlock, Usage
from nexus.protocol.events import AttemptInfo


@dataclass(frozen=True)
class CallRequest:
    """One model call of a run: the conversation so far, and what the model may use."""

    run_id: str
    messages: tuple[ChatMessage, ...]
    system: str | None = None
    pinned: ModelRef | None = None
    """A model the user pinned for the session: strict, no silent fallback."""
    tools: tuple[ToolSpec, ...] = ()
    budget_s: float | None = None
    """What is left of the caller's deadline for the whole turn (None: ``[models] turn_timeout_s``)."""
    max_tokens: int | None = None
    """None: ``[models] max_tokens``."""


Turn = CallRequest
"""The name of a one-call turn (``Router.run``), kept for callers that answer with text only."""


@dataclass(frozen=True)
class AttemptStarted:
    model: str
    profile: str | None


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Fallback:
    from_model: str
    to_model: str
    reason: str
    after_tokens: bool = False
    """True when the failed attempt had already streamed text: the client must discard it."""
    from_profile: str | None = None
    to_profile: str | None = None


@dataclass(frozen=True)
class Cooldown:
    model: str
    profile: str | None
    reason: str
    until: float
    """Wall-clock epoch seconds (finite; see ``permanent``)."""
    permanent: bool = False
    """Until a human acts (a revoked credential): ``until`` is then only a far-future placeholder."""


@dataclass(frozen=True)
class Refreshing:
    profile: str


RouterEvent = AttemptStarted | Delta | ToolCall | Fallback | Cooldown | Refreshing
"""``ToolCall`` is heard when the model finishes a call; the caller runs tools only from the result
(an attempt can still fail after it, and the fallback's calls are the ones that count)."""
EventSink = Callable[[RouterEvent], None]


@dataclass(frozen=True)
class CallResult:
    """The answer of one call: from one candidate, complete (never a mix of two attempts)."""

    text: str
    model: str
    profile: str | None
    fell_back: bool = False
    attempts: tuple[AttemptInfo, ...] = field(default_factory=tuple)
    tool_calls: tuple[ToolCall, ...] = ()
    stop_reason: str | None = None
    """As the answering provider said it (``end_turn``/``tool_use``, ``stop``/``tool_calls``...)."""
    usage: Usage = field(default_factory=Usage)

    @property
    def message(self) -> ChatMessage:
        """The answer as the assistant message to append to the conversation (text, then tool uses)."""
        blocks: list[ContentBlock] = [TextBlock(self.text)] if self.text else []
        blocks.extend(ToolUseBlock(c.id, c.name, c.input) for c in self.tool_calls)
        return ChatMessage("assistant", tuple(blocks))


TurnResult = CallResult


class TurnFailed(NexusError):
    """Every candidate failed or is cooling; the message has one line per attempt."""

    def __init__(
        self,
        summary: str,
        attempts: tuple[AttemptInfo, ...] = (),
        soonest_retry: float | None = None,
    ) -> None:
        super().__init__(summary)
        self.summary = summary
        self.attempts = attempts
        self.soonest_retry = soonest_retry


class NoProviderConfigured(NexusError):
    """No candidate has any credential: the gateway answers with setup instructions instead."""
