"""Cooldowns per (profile, model) as pure policy: how long to stay away, and who may go next.

A cooldown is a small circuit breaker:

    closed ──failure──> open (until T) ──T passes──> half-open ──probe ok──> closed
                           ^                             │
                           └──────probe fails (longer)───┘

While open, a candidate is skipped without a request. Once ``until`` has passed, the next real request
is the probe; while it is in flight, other turns still skip the candidate (one probe, not a stampede).

How long: the server's ``retry-after`` when it gave one, else a ladder that grows with each
consecutive failure (30 s, 1 m, 5 m, 15 m, 1 h); billing climbs in hours; a dead credential stays
open until a human acts (or the credential behind the profile changes). Failures that belong to the
request, not the candidate (``bad_request``, ``context_overflow``), cool nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from nexus.models.errors import FailureKind

ANY_MODEL = "*"
"""The model of a profile-wide cooldown: billing and dead credentials are not per model."""

TRANSIENT_LADDER = (30.0, 60.0, 300.0, 900.0, 3600.0)
AUTH_LADDER = (60.0, 300.0, 900.0, 3600.0)
LONG_LADDER = (3600.0, 3 * 3600.0, 6 * 3600.0)
BILLING_LADDER = (3600.0, 3 * 3600.0, 6 * 3600.0, 24 * 3600.0)
MAX_RETRY_AFTER = 24 * 3600.0

LADDERS: dict[FailureKind, tuple[float, ...] | None] = {
    FailureKind.RATE_LIMIT: TRANSIENT_LADDER,
    FailureKind.OVERLOADED: TRANSIENT_LADDER,
    FailureKind.SERVER: TRANSIENT_LADDER,
    FailureKind.TIMEOUT: TRANSIENT_LADDER,
    FailureKind.CONNECTION: TRANSIENT_LADDER,
    FailureKind.UNKNOWN: TRANSIENT_LADDER,
    FailureKind.AUTH: AUTH_LADDER,
    FailureKind.PERMISSION: LONG_LADDER,
    FailureKind.MODEL_NOT_FOUND: LONG_LADDER,
    FailureKind.BILLING: BILLING_LADDER,
    FailureKind.AUTH_PERMANENT: (math.inf,),
    FailureKind.BAD_REQUEST: None,
    FailureKind.CONTEXT_OVERFLOW: None,
}
PROFILE_WIDE = frozenset({FailureKind.BILLING, FailureKind.AUTH, FailureKind.AUTH_PERMANENT})
HONOURS_RETRY_AFTER = frozenset(
    {FailureKind.RATE_LIMIT, FailureKind.OVERLOADED, FailureKind.SERVER, FailureKind.UNKNOWN}
)


@dataclass(frozen=True)
class CooldownEntry:
    profile: str
    model: str
    """A model name, or :data:`ANY_MODEL` for a profile-wide cooldown."""
    kind: FailureKind
    until: float
    """Wall-clock epoch seconds; ``math.inf`` until a human acts."""
    strikes: int = 1
    """Consecutive failures: the rung of the ladder."""
    reason: str = ""
    fingerprint: str | None = None
    """For auth kinds: the rejected credential; a different one ends the cooldown."""

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


def cooldown_seconds(kind: FailureKind, retry_after: float | None, strikes: int) -> float | None:
    """How long to stay away after the ``strikes``-th consecutive failure; None: no cooldown."""
    ladder = LADDERS.get(kind)
    if ladder is None:
        return None
    if retry_after is not None and kind in HONOURS_RETRY_AFTER:
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
    return ladder[min(max(strikes, 1), len(ladder)) - 1]


def cooldown_key(profile: str, model: str, kind: FailureKind) -> tuple[str, str]:
    return (profile, ANY_MODEL if kind in PROFILE_WIDE else model)


def after_failure(
    previous: CooldownEntry | None,
    *,
    profile: str,
    model: str,
    kind: FailureKind,
    retry_after: float | None,
    now: float,
    reason: str = "",
    fingerprint: str | None = None,
) -> CooldownEntry | None:
    """The cooldown to record after a failure (None: this failure cools nothing)."""
    strikes = previous.strikes + 1 if previous is not None else 1
    seconds = cooldown_seconds(kind, retry_after, strikes)
    if seconds is None:
        return None
    _, scoped_model = cooldown_key(profile, model, kind)
    return CooldownEntry(
        profile=profile,
        model=scoped_model,
        kind=kind,
        until=now + seconds,
        strikes=strikes,
        reason=reason,
        fingerprint=fingerprint,
    )


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
