"""Pure auth decisions: when to refresh, what a profile's state is, which warnings are due, the order
profiles are tried in, and what a token-endpoint error means. No I/O here; tables of cases test it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

DAY_S = 86_400.0
EXPIRING_DAYS = 7.0
"""A non-refreshable token is shown as ``expiring`` this many days before its end."""
WARNING_DAYS: tuple[int, ...] = (7, 1)
"""Expiry warnings fire once each when this many days (or fewer) are left."""


class ProfileStatus(StrEnum):
    OK = "ok"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    NEEDS_REAUTH = "needs_reauth"
    COOLING = "cooling"
    INVALID = "invalid"


class RefreshVerdict(StrEnum):
    """What a failed refresh means for the profile."""

    REAUTH = "reauth"
    """The refresh token is dead (reused, revoked, expired): permanent until a human logs in again."""
    RETRY_LATER = "retry_later"
    """The endpoint or the network failed: the token may still be good; try again on a later request."""


def refresh_margin(configured_s: float, lifetime_s: float | None) -> float:
    """How long before expiry to refresh: the configured margin, never more than a quarter of the
    token's lifetime (a 5-minute margin on a 10-minute token would refresh twice as often as needed)."""
    if lifetime_s is None or lifetime_s <= 0:
        return configured_s
    return min(configured_s, lifetime_s / 4.0)


def refresh_due(*, now_s: float, expires_s: float | None, margin_s: float) -> bool:
    """True when an OAuth access token should be refreshed before it is used."""
    if expires_s is None:
        return False
    return now_s >= expires_s - margin_s


def days_left(*, now_s: float, expires_s: float | None) -> float | None:
    if expires_s is None:
        return None
    return (expires_s - now_s) / DAY_S


@dataclass(frozen=True)
class StatusInputs:
    """Everything :func:`profile_status` looks at, already read from the store and runtime state."""

    refreshable: bool
    """OAuth with a refresh token we own: expiry of the access token is routine, not a problem."""
    expires_s: float | None
    needs_reauth: bool = False
    cooldown_until_s: float | None = None
    invalid: bool = False


def profile_status(inputs: StatusInputs, *, now_s: float) -> ProfileStatus:
    """One word for ``auth list`` and ``/status``; the most serious condition wins."""
    if inputs.invalid:
        return ProfileStatus.INVALID
    if inputs.needs_reauth:
        return ProfileStatus.NEEDS_REAUTH
    if not inputs.refreshable and inputs.expires_s is not None and now_s >= inputs.expires_s:
        return ProfileStatus.EXPIRED
    if inputs.cooldown_until_s is not None and now_s < inputs.cooldown_until_s:
        return ProfileStatus.COOLING
    if not inputs.refreshable and inputs.expires_s is not None:
        left = days_left(now_s=now_s, expires_s=inputs.expires_s)
        if left is not None and left <= EXPIRING_DAYS:
            return ProfileStatus.EXPIRING
    return ProfileStatus.OK


def due_warnings(
    *, now_s: float, expires_s: float | None, already: Iterable[int], thresholds: Sequence[int] = WARNING_DAYS
) -> list[int]:
    """Thresholds (in days) whose warning is due now and was not given yet, largest first.

    Only the tightest due threshold fires when several are due at once (a token found 12 hours from
    expiry gets the 1-day warning, not both); the looser ones are reported as given so they stay quiet.
    """
    if expires_s is None or now_s >= expires_s:
        return []
    left = expires_s - now_s
    done = set(already)
    due = [t for t in sorted(thresholds, reverse=True) if left <= t * DAY_S and t not in done]
    return due


def order_profiles(
    names: Iterable[str],
    *,
    explicit: Sequence[str] = (),
    kinds: Mapping[str, str] | None = None,
    last_good: Mapping[str, float] | None = None,
) -> list[str]:
    """The order a provider's profiles are tried in.

    An explicit ``nexus auth order`` list comes first, as written. The rest follow by kind (OAuth and
    long-lived tokens before API keys, which bill per token), then the most recently good, then name.
    """
    pool = list(dict.fromkeys(names))
    first = [n for n in explicit if n in pool]
    rest = [n for n in pool if n not in first]
    rank = {"oauth": 0, "token": 1, "borrowed": 2, "api_key": 3}
    kinds = kinds or {}
    good = last_good or {}
    rest.sort(key=lambda n: (rank.get(kinds.get(n, ""), 9), -good.get(n, 0.0), n))
    return first + rest


REAUTH_ERRORS = frozenset(
    {"invalid_grant", "refresh_token_reused", "invalid_token", "token_revoked", "unauthorized_client"}
)


def classify_refresh_error(status: int | None, error: str | None) -> RefreshVerdict:
    """Map a token-endpoint failure to a verdict. ``status`` None means no HTTP answer at all.

    OAuth 2.0 (RFC 6749 §5.2) answers a dead refresh token with 400 ``invalid_grant``; reuse
    detection (RFC 9700 §4.14.2) revokes the whole family and answers the same way or with a
    provider-specific code. Anything else (timeouts, 429, 5xx, a garbled body) might pass.
    """
    if status is None:
        return RefreshVerdict.RETRY_LATER
    if error in REAUTH_ERRORS:
        return RefreshVerdict.REAUTH
    if status in (400, 401, 403) and error is None:
        return RefreshVerdict.RETRY_LATER
    if status == 401:
        return RefreshVerdict.REAUTH
    return RefreshVerdict.RETRY_LATER


def parse_duration(text: str) -> float:
    """``365d``, ``12h``, ``30m``, ``90s`` or a bare number of days -> seconds. Raises ValueError."""
    raw = text.strip().lower()
    units = {"d": DAY_S, "h": 3600.0, "m": 60.0, "s": 1.0, "w": 7 * DAY_S, "y": 365 * DAY_S}
    if raw and raw[-1] in units:
        number, unit = raw[:-1], units[raw[-1]]
    else:
        number, unit = raw, DAY_S
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration: write e.g. 365d, 12h or 30m") from None
    if value <= 0:
        raise ValueError(f"{text!r} must be positive, e.g. 365d")
    return value * unit
