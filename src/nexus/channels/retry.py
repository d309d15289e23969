"""When the outbox tries a failed send again, or gives up. Pure; tested by a table of cases.

Rate limits are obeyed to the second the platform names and do not use up attempts quickly (the
platform told us exactly when to come back); transient errors back off exponentially; permanent
errors and messages too old to still matter are given up at once, with the reason kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from nexus.channels.errors import PermanentSendError, RateLimited, SendError

BASE_DELAY_S = 1.0
MAX_DELAY_S = 60.0
MAX_ATTEMPTS = 12
MAX_RATE_LIMITED = 50
MAX_AGE_S = 24 * 3600.0


@dataclass(frozen=True)
class Retry:
    at: float


@dataclass(frozen=True)
class GiveUp:
    reason: str


def after_failure(
    error: SendError, *, attempts: int, now: float, created_at: float, max_attempts: int = MAX_ATTEMPTS
) -> Retry | GiveUp:
    """``attempts`` counts the attempt that just failed (1 after the first)."""
    if isinstance(error, PermanentSendError):
        return GiveUp(f"refused by the platform: {error}")
    if now - created_at > MAX_AGE_S:
        return GiveUp(f"undelivered for over {MAX_AGE_S / 3600:.0f} h: {error}")
    if isinstance(error, RateLimited):
        if attempts >= MAX_RATE_LIMITED:
            return GiveUp(f"rate limited {attempts} times: {error}")
        return Retry(at=now + max(error.retry_after, 0.0))
    if attempts >= max_attempts:
        return GiveUp(f"failed {attempts} times, last: {error}")
    return Retry(at=now + min(BASE_DELAY_S * 2 ** (attempts - 1), MAX_DELAY_S))
