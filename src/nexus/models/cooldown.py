"""Cooldowns per (profile, model) as pure policy: how long to stay away, and who may go next.

A cooldown is a small circuit breaker:

    closed ──failure──> open (until T) ──T passes──> half-open ──probe ok──> closed
                           ^                             │
                           └──────probe fails (longer)───┘

While open, a candidate is skipped without a request. Once ``until`` has passed, the next real request
is the probe; while it is in flight, other turns still skip the candidate (one probe, not a stampede).

How long: the server's ``retry-after`` when it gave one, else a ladder that grows with each
consecutive failure *event* (30 s, 1 m, 5 m, 15 m, 1 h); billing climbs in hours; a dead credential
stays open until a human acts (or the credential behind the profile changes). Failures that belong
to the request, not the candidate (``bad_request``, ``context_overflow``), cool nothing.

Three rules keep a blip from silencing the assistant (issue 23):

- **A burst is one event.** Concurrent turns failing on one candidate together (nine resets within
  25 ms) climb one rung, not nine: a failure of a request that started before the current rung was
  set, or that comes within :data:`BURST_WINDOW_S` of it, is the same event (:func:`same_event`).
- **A success clears the state.** A success of a request that started after the rung was set ends
  any cooldown; a transport-level cooldown (connection, timeout, 5xx) ends with *any* success, since
  an answer proves the endpoint is reachable (:func:`cleared_by_success`).
- **The last candidate is probed, never abandoned.** When every candidate of a turn is cooling for a
  transient reason of our own guessing (not a server's ``retry-after``, which is honoured), the
  router sends the one back soonest a half-open probe instead of refusing the message
  (:func:`last_resort`); other turns wait for that probe's outcome.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from nexus.models.errors import ModelFailureKind

ANY_MODEL = "*"
"""The model of a profile-wide cooldown: billing and dead credentials are not per model."""

TRANSIENT_LADDER = (30.0, 60.0, 300.0, 900.0, 3600.0)
AUTH_LADDER = (60.0, 300.0, 900.0, 3600.0)
LONG_LADDER = (3600.0, 3 * 3600.0, 6 * 3600.0)
BILLING_LADDER = (3600.0, 3 * 3600.0, 6 * 3600.0, 24 * 3600.0)
MAX_RETRY_AFTER = 24 * 3600.0
BURST_WINDOW_S = 2.0
"""Failures of one candidate this close to the failure that set its rung are the same event."""

LADDERS: dict[ModelFailureKind, tuple[float, ...] | None] = {
    ModelFailureKind.RATE_LIMIT: TRANSIENT_LADDER,
    ModelFailureKind.OVERLOADED: TRANSIENT_LADDER,
    ModelFailureKind.SERVER: TRANSIENT_LADDER,
    ModelFailureKind.TIMEOUT: TRANSIENT_LADDER,
    ModelFailureKind.CONNECTION: TRANSIENT_LADDER,
    ModelFailureKind.UNKNOWN: TRANSIENT_LADDER,
    ModelFailureKind.AUTH: AUTH_LADDER,
    ModelFailureKind.PERMISSION: LONG_LADDER,
    ModelFailureKind.MODEL_NOT_FOUND: LONG_LADDER,
    ModelFailureKind.BILLING: BILLING_LADDER,
    ModelFailureKind.AUTH_PERMANENT: (math.inf,),
    ModelFailureKind.BAD_REQUEST: None,
    ModelFailureKind.CONTEXT_OVERFLOW: None,
}
PROFILE_WIDE = frozenset({ModelFailureKind.BILLING, ModelFailureKind.AUTH, ModelFailureKind.AUTH_PERMANENT})
HONOURS_RETRY_AFTER = frozenset(
    {
        ModelFailureKind.RATE_LIMIT,
        ModelFailureKind.OVERLOADED,
        ModelFailureKind.SERVER,
        ModelFailureKind.UNKNOWN,
    }
)
REACHABILITY = frozenset(
    {ModelFailureKind.CONNECTION, ModelFailureKind.TIMEOUT, ModelFailureKind.SERVER, ModelFailureKind.UNKNOWN}
)
"""Failures that say "could not get an answer": any answer from the candidate disproves them."""
TRANSIENT = frozenset(kind for kind, ladder in LADDERS.items() if ladder is TRANSIENT_LADDER)
"""Kinds that pass by themselves: a last candidate cooling for one of these is probed, not abandoned."""


@dataclass(frozen=True)
class CooldownEntry:
    profile: str
    model: str
    """A model name, or :data:`ANY_MODEL` for a profile-wide cooldown."""
    kind: ModelFailureKind
    until: float
    """Wall-clock epoch seconds; ``math.inf`` until a human acts."""
    strikes: int = 1
    """Consecutive failures: the rung of the ladder."""
    reason: str = ""
    fingerprint: str | None = None
    """For auth kinds: the rejected credential; a different one ends the cooldown."""
    at: float = 0.0
    """When the failure event that set this rung happened (epoch seconds)."""
    told: bool = False
    """The duration is the server's own ``retry-after``, not our guess from the ladder."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.profile, self.model)

    @property
    def permanent(self) -> bool:
        return math.isinf(self.until)


class Admission(StrEnum):
    GO = "go"
    """No cooldown: send."""
    PROBE = "probe"
    """The cooldown ended: this request is the half-open probe."""
    SKIP = "skip"
    """Cooling, or another request is already probing."""


def cooldown_seconds(kind: ModelFailureKind, retry_after: float | None, strikes: int) -> float | None:
    """How long to stay away after the ``strikes``-th consecutive failure; None: no cooldown."""
    ladder = LADDERS.get(kind)
    if ladder is None:
        return None
    if told_by_server(kind, retry_after):
        assert retry_after is not None
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
    return ladder[min(max(strikes, 1), len(ladder)) - 1]


def told_by_server(kind: ModelFailureKind, retry_after: float | None) -> bool:
    return retry_after is not None and kind in HONOURS_RETRY_AFTER


def cooldown_key(profile: str, model: str, kind: ModelFailureKind) -> tuple[str, str]:
    return (profile, ANY_MODEL if kind in PROFILE_WIDE else model)


def same_event(previous: CooldownEntry, *, now: float, started_at: float) -> bool:
    """Is a failure at ``now`` (of a request sent at ``started_at``) part of the event that set
    ``previous``'s rung? Yes when the request was already in flight then, or it came right after."""
    return started_at <= previous.at or now - previous.at < BURST_WINDOW_S


def after_failure(
    previous: CooldownEntry | None,
    *,
    profile: str,
    model: str,
    kind: ModelFailureKind,
    retry_after: float | None,
    now: float,
    started_at: float | None = None,
    reason: str = "",
    fingerprint: str | None = None,
) -> CooldownEntry | None:
    """The cooldown to record after a failure (None: this failure cools nothing).

    A failure of the same event as ``previous`` keeps its rung (and its ``at``); it can only make the
    cooldown longer, e.g. with a longer ``retry-after``."""
    started = now if started_at is None else started_at
    together = previous is not None and same_event(previous, now=now, started_at=started)
    strikes = 1 if previous is None else previous.strikes if together else previous.strikes + 1
    seconds = cooldown_seconds(kind, retry_after, strikes)
    if seconds is None:
        return None
    _, scoped_model = cooldown_key(profile, model, kind)
    entry = CooldownEntry(
        profile=profile,
        model=scoped_model,
        kind=kind,
        until=now + seconds,
        strikes=strikes,
        reason=reason,
        fingerprint=fingerprint,
        at=now,
        told=told_by_server(kind, retry_after),
    )
    if together:
        assert previous is not None
        if previous.until >= entry.until:
            return previous
        return replace(entry, at=previous.at)
    return entry


def cleared_by_success(entry: CooldownEntry, *, started_at: float) -> bool:
    """Does a success of a request sent at ``started_at`` end this cooldown?

    A request sent after the rung was set succeeded: the candidate is back. One sent before (it was
    in flight during the failure) proves only that the endpoint answers: enough for a transport-level
    cooldown, not for a rate limit or a refused credential."""
    return started_at >= entry.at or entry.kind in REACHABILITY


def last_resort(entries: Sequence[CooldownEntry | None]) -> int | None:
    """Of the cooling candidates of a turn that has nothing else to try, the index of the one to probe
    now: a transient cooldown of our own guessing (a server's ``retry-after`` is honoured to the
    second), the soonest back (the first on a tie); None when none qualifies."""
    best: int | None = None
    for index, entry in enumerate(entries):
        if entry is None or entry.permanent or entry.told or entry.kind not in TRANSIENT:
            continue
        chosen = entries[best] if best is not None else None
        if chosen is None or entry.until < chosen.until:
            best = index
    return best


def admit(entry: CooldownEntry | None, *, now: float, probing: bool) -> Admission:
    """May a request go to a candidate with this cooldown entry right now?"""
    if entry is None:
        return Admission.GO
    if now < entry.until or probing:
        return Admission.SKIP
    return Admission.PROBE


def credential_changed(entry: CooldownEntry, fingerprint: str) -> bool:
    """An auth cooldown ends when the profile now holds a different credential (a human re-logged in)."""
    return entry.fingerprint is not None and entry.fingerprint != fingerprint
