"""What the auth store tells its owner (the gateway puts these on its event bus and in alerts).

Delivered through a plain callback so the store knows nothing about WebSockets or alerting. Every
event has a ``message``: one sentence naming the problem and the command that fixes it, no secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ExpiryWarning:
    """A token Nexus cannot refresh expires within ``days`` days (fired once per threshold: 7, 1)."""

    profile: str
    provider: str
    days: int
    expires_at: float
    message: str


@dataclass(frozen=True)
class ReauthRequired:
    """A profile's refresh token is dead (reused or revoked); the next profile serves meanwhile."""

    profile: str
    provider: str
    reason: str
    message: str


@dataclass(frozen=True)
class TokenRefreshed:
    """A profile got a new access token; ``adopted`` when a peer process had already refreshed it."""

    profile: str
    provider: str
    adopted: bool
    message: str


AuthEvent = ExpiryWarning | ReauthRequired | TokenRefreshed
AuthEventSink = Callable[[AuthEvent], None]
