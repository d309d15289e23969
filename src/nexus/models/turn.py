"""What the gateway asks of the model layer (a turn) and what it hears back (events, a result).

The router emits events through a plain callback so the gateway can put them on its event bus
without the model layer knowing about WebSockets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nexus.config.schema import ModelRef
from nexus.errors import NexusError
from nexus.models.types import ChatMessage


@dataclass(frozen=True)
class Turn:
    run_id: str
    messages: tuple[ChatMessage, ...]
    system: str | None = None
    pinned: ModelRef | None = None
    """A model the user pinned for the session: strict, no silent fallback."""


@dataclass(frozen=True)
class AttemptRecord:
    """One try of one candidate, for the failure summary and status."""

    model: str
    profile: str | None
    outcome: str
    """``ok`` or a FailureKind value, or ``skipped:<reason>`` for a cooled candidate."""
    status: int | None = None
    detail: str = ""


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


RouterEvent = AttemptStarted | Delta | Fallback | Cooldown | Refreshing
EventSink = Callable[[RouterEvent], None]


@dataclass(frozen=True)
class TurnResult:
    text: str
    model: str
    profile: str | None
    fell_back: bool = False
    attempts: tuple[AttemptRecord, ...] = field(default_factory=tuple)


class TurnFailed(NexusError):
    """Every candidate failed or is cooling; the message has one line per attempt."""

    def __init__(
        self,
        summary: str,
        attempts: tuple[AttemptRecord, ...] = (),
        soonest_retry: float | None = None,
    ) -> None:
        super().__init__(summary)
        self.summary = summary
        self.attempts = attempts
        self.soonest_retry = soonest_retry


class NoProviderConfigured(NexusError):
    """No candidate has any credential: the gateway answers with setup instructions instead."""
