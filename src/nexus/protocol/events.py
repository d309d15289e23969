"""The one event vocabulary: every event the gateway publishes, as a typed value with its wire name.

Producers (the runner, the runtime, the auth link, alerting; later tools, approvals and schedules)
build these values; consumers (the WebSocket, the OpenAI-compatible stream, the channel host, the
alert watcher, the client and its TUI) match on their types. No event name is written as a string
anywhere else: the wire name is each class's ``name`` and :func:`decode` is the only way back.

Wire encoding (``docs/protocol.md``, "Events"): ``payload()`` is a JSON object whose keys are the
field names, except where a field's metadata gives another ``wire`` key (``from_model`` -> ``from``).
:class:`RunFinal` and :class:`RunError` carry the whole run as ``GET /api/runs`` returns it, merged
into the payload. Decoding is tolerant (a client must survive a newer gateway): unknown names decode
to ``None``, unknown keys are ignored, a missing or ill-typed value takes the field's default.

Scope: an event with a ``session`` reaches the clients of that session; one without is gateway-wide.

Room for the next floors (names reserved and shapes fixed here, so their producers plug in):
``run.tool`` (a tool call of a run starts or ends), ``approval.requested`` / ``approval.resolved``
(a tool call waits for the owner's yes or no), ``schedule.fired`` (a schedule queued a run).
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

__all__ = [
    "EVENTS",
    "ApprovalRequested",
    "ApprovalResolved",
    "AttemptInfo",
    "AuthExpiring",
    "AuthNeedsReauth",
    "AuthNotice",
    "AuthRefreshed",
    "Event",
    "FallbackFacts",
    "ModelCooldown",
    "ModelFallback",
    "OwnerAlert",
    "RunAccepted",
    "RunDelta",
    "RunEnded",
    "RunError",
    "RunFallback",
    "RunFinal",
    "RunScoped",
    "RunSnapshot",
    "RunState",
    "RunStatus",
    "RunTool",
    "ScheduleFired",
    "Tick",
    "Usage",
    "decode",
]


def _wire(key: str) -> Any:
    return field(metadata={"wire": key})


# -- values carried inside events -------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """Tokens a run's model calls consumed (summed over the calls of the turn)."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class AttemptInfo:
    """One candidate tried (or skipped) for a run: ``outcome`` is ``ok``, a failure kind
    (``rate_limit``, ``auth``...) or ``skipped:<why>``. The router records its attempts as this
    type (``CallResult.attempts``, ``TurnFailed.attempts``), so they reach clients unchanged."""

    model: str
    profile: str | None
    outcome: str
    status: int | None = None
    detail: str = ""

    @property
    def kind(self) -> str:
        """The failure kind without a ``skipped:cooling:`` prefix."""
        return self.outcome.rsplit(":", 1)[-1]

    @classmethod
    def from_wire(cls, payload: Mapping[str, Any]) -> AttemptInfo:
        return _decode(cls, payload)


@dataclass(frozen=True)
class RunSnapshot:
    """A run as the API shows it (``GET /api/runs/{id}``, ``chat.send``'s ``run``, ``run.final``).

    ``message`` is what the sender wrote; ``text`` is the assistant's answer (None until done).
    """

    run_id: str
    session: str
    status: str
    message: str = ""
    text: str | None = None
    error: str | None = None
    model: str | None = None
    fell_back: bool = False
    created_at: float = 0.0
    finished_at: float | None = None

    def to_wire(self) -> dict[str, Any]:
        return _encode(self)

    @classmethod
    def from_wire(cls, payload: Mapping[str, Any]) -> RunSnapshot:
        return _decode(cls, payload)


# -- the events -------------------------------------------------------------------------------------

EVENTS: dict[str, type[Event]] = {}
"""Every event by wire name (each subclass of :class:`Event` registers itself)."""


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event: ``name`` is the wire name; ``session`` (when a field) scopes it."""

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            return  # a shared base (RunScoped, AuthNotice), not an event of its own
        if cls.name in EVENTS:
            raise TypeError(f"two events named {cls.name!r}: {EVENTS[cls.name].__name__} and {cls.__name__}")
        EVENTS[cls.name] = cls

    @property
    def scope(self) -> str | None:
        """The session whose clients get this event; None for a gateway-wide event."""
        return getattr(self, "session", None)

    def payload(self) -> dict[str, Any]:
        return _encode(self)


class RunState(enum.StrEnum):
    RUNNING = "running"
    CALLING = "calling"
    REFRESHING = "refreshing"


@dataclass(frozen=True, kw_only=True)
class RunScoped(Event):
    """Base of the events about one run, delivered to the clients of its session."""

    run_id: str
    session: str


@dataclass(frozen=True, kw_only=True)
class FallbackFacts:
    """What a fallback says: the failed model, the next one, why, and whether text must be discarded."""

    from_model: str = _wire("from")
    to_model: str = _wire("to")
    reason: str = ""
    after_tokens: bool = False
    """The failed attempt had streamed text: discard it, the answer restarts."""


@dataclass(frozen=True, kw_only=True)
class AuthNotice(Event):
    """Base of the credential store's events: every one has a ``message`` naming the fix."""

    profile: str
    provider: str
    message: str


@dataclass(frozen=True, kw_only=True)
class RunAccepted(RunScoped):
    name: ClassVar[str] = "run.accepted"
    ahead: int = 0
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class RunStatus(RunScoped):
    """``running`` (with ``attempt``), ``calling`` (with ``model``, ``profile``), ``refreshing``."""

    name: ClassVar[str] = "run.status"
    state: RunState = RunState.RUNNING
    attempt: int | None = None
    model: str | None = None
    profile: str | None = None


@dataclass(frozen=True, kw_only=True)
class RunDelta(RunScoped):
    name: ClassVar[str] = "run.delta"
    text: str = ""


@dataclass(frozen=True, kw_only=True)
class RunFallback(FallbackFacts, RunScoped):
    name: ClassVar[str] = "run.fallback"


@dataclass(frozen=True, kw_only=True)
class RunEnded(Event):
    """Base of the two ends of a run; the payload is the run as ``GET /api/runs`` returns it."""

    run: RunSnapshot

    @property
    def session(self) -> str:
        return self.run.session

    @property
    def run_id(self) -> str:
        return self.run.run_id


@dataclass(frozen=True, kw_only=True)
class RunFinal(RunEnded):
    """The run ended with an answer (``text`` the complete answer)."""

    name: ClassVar[str] = "run.final"
    usage: Usage | None = None

    def payload(self) -> dict[str, Any]:
        body = self.run.to_wire()
        if self.usage is not None:
            body["usage"] = _encode(self.usage)
        return body


@dataclass(frozen=True, kw_only=True)
class RunError(RunEnded):
    """The run failed (``error`` the reason), plus, when every candidate failed, ``soonest_retry``
    (epoch s) and ``attempts``."""

    name: ClassVar[str] = "run.error"
    soonest_retry: float | None = None
    attempts: tuple[AttemptInfo, ...] = ()

    def payload(self) -> dict[str, Any]:
        body = self.run.to_wire()
        if self.soonest_retry is not None:
            body["soonest_retry"] = self.soonest_retry
        if self.attempts:
            body["attempts"] = [_encode(a) for a in self.attempts]
        return body


@dataclass(frozen=True, kw_only=True)
class RunTool(RunScoped):
    """Reserved for the tools package: a tool call of a run ``started``, ``finished`` or ``failed``."""

    name: ClassVar[str] = "run.tool"
    call_id: str
    tool: str
    state: str = "started"
    summary: str | None = None
    """One human line: the arguments when started, the result or error when ended; never a secret."""


@dataclass(frozen=True, kw_only=True)
class ApprovalRequested(RunScoped):
    """Reserved for the tools package: a tool call waits for the owner's decision."""

    name: ClassVar[str] = "approval.requested"
    approval_id: str
    tool: str
    summary: str = ""
    expires_at: float | None = None


@dataclass(frozen=True, kw_only=True)
class ApprovalResolved(RunScoped):
    """Reserved for the tools package: ``decision`` is ``approved``, ``denied`` or ``expired``."""

    name: ClassVar[str] = "approval.resolved"
    approval_id: str
    decision: str
    by: str | None = None


@dataclass(frozen=True, kw_only=True)
class ScheduleFired(RunScoped):
    """Reserved for the schedules package: a schedule queued a run in its session."""

    name: ClassVar[str] = "schedule.fired"
    schedule_id: str
    at: float = 0.0


@dataclass(frozen=True, kw_only=True)
class ModelFallback(FallbackFacts, Event):
    """Gateway-wide copy of a run's fallback (for dashboards and alerting)."""

    name: ClassVar[str] = "model.fallback"
    run_id: str


@dataclass(frozen=True, kw_only=True)
class ModelCooldown(Event):
    name: ClassVar[str] = "model.cooldown"
    model: str
    profile: str | None
    reason: str
    until: float
    """Wall-clock epoch seconds."""
    permanent: bool = False
    """Until a human acts (a revoked credential): ``until`` is a far-future placeholder then."""


@dataclass(frozen=True, kw_only=True)
class AuthExpiring(AuthNotice):
    name: ClassVar[str] = "auth.expiring"
    days: int
    expires_at: float
    message: str


@dataclass(frozen=True, kw_only=True)
class AuthNeedsReauth(AuthNotice):
    name: ClassVar[str] = "auth.needs_reauth"
    reason: str
    message: str


@dataclass(frozen=True, kw_only=True)
class AuthRefreshed(AuthNotice):
    name: ClassVar[str] = "auth.refreshed"
    adopted: bool
    message: str


@dataclass(frozen=True, kw_only=True)
class OwnerAlert(Event):
    """An alert for the owner that passed the de-duplication policy (``nexus.alerts``)."""

    name: ClassVar[str] = "alert"
    kind: str
    subject: str
    severity: str
    message: str
    remedy: str
    at: float
    key: str

    @property
    def line(self) -> str:
        """The alert as one line for a status bar or a chat message."""
        return f"{self.message}. Fix: {self.remedy}" if self.remedy else self.message


@dataclass(frozen=True, kw_only=True)
class Tick(Event):
    name: ClassVar[str] = "tick"
    time: float
    queue_depth: int


def decode(name: str, payload: Mapping[str, Any]) -> Event | None:
    """The typed event of a wire frame; None for a name this version does not know."""
    cls = EVENTS.get(name)
    if cls is None:
        return None
    if cls is RunFinal:
        usage = payload.get("usage")
        return RunFinal(
            run=RunSnapshot.from_wire(payload),
            usage=_decode(Usage, usage) if isinstance(usage, Mapping) else None,
        )
    if cls is RunError:
        retry = payload.get("soonest_retry")
        raw = payload.get("attempts")
        attempts = (
            [_decode(AttemptInfo, a) for a in raw if isinstance(a, Mapping)] if isinstance(raw, list) else []
        )
        return RunError(
            run=RunSnapshot.from_wire(payload),
            soonest_retry=float(retry) if _is_number(retry) else None,
            attempts=tuple(attempts),
        )
    return _decode(cls, payload)


# -- the codec (flat dataclasses of str/int/float/bool/enum, optional or not) ----------------------

T = TypeVar("T")


def _encode(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        v = getattr(value, f.name)
        out[f.metadata.get("wire", f.name)] = v.value if isinstance(v, enum.Enum) else v
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_SCALARS: dict[type, Any] = {
    str: lambda v: v if isinstance(v, str) else None,
    bool: lambda v: v if isinstance(v, bool) else None,
    int: lambda v: int(v) if _is_number(v) and float(v).is_integer() else None,
    float: lambda v: float(v) if _is_number(v) else None,
}


def _coercer(hint: Any) -> tuple[Any, bool]:
    """(convert(value) -> value or None when ill-typed, optional)."""
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    if isinstance(base, type) and issubclass(base, enum.Enum):
        members = {m.value: m for m in base}
        return (lambda v: members.get(v)), optional
    return _SCALARS.get(base, lambda v: None), optional


_PLANS: dict[type, list[tuple[str, str, Any, bool, Any]]] = {}


def _plan(cls: type) -> list[tuple[str, str, Any, bool, Any]]:
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = []
        for f in dataclasses.fields(cls):
            convert, optional = _coercer(hints[f.name])
            default = f.default if f.default is not dataclasses.MISSING else None
            plan.append((f.name, f.metadata.get("wire", f.name), convert, optional, default))
        _PLANS[cls] = plan
    return plan


def _decode(cls: type[T], payload: Mapping[str, Any]) -> T:
    kwargs: dict[str, Any] = {}
    for attr, key, convert, optional, default in _plan(cls):
        raw = payload.get(key)
        value = convert(raw) if raw is not None else None
        if value is None and not optional:
            value = default if default is not None else _empty(cls, attr)
        elif value is None:
            value = default
        kwargs[attr] = value
    return cls(**kwargs)


def _empty(cls: type, attr: str) -> Any:
    """The neutral value of a required field the payload lacks ("" / 0 / False / first member)."""
    hint = typing.get_type_hints(cls)[attr]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return next(iter(hint))
    return {str: "", int: 0, float: 0.0, bool: False}.get(hint)
