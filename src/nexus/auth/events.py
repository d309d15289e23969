"""What the auth store tells its owner (the gateway puts these on its event bus and in alerts).

They are the event vocabulary's own auth events (:mod:`nexus.protocol.events`), under the names the
store speaks, so the gateway publishes them as they are and no second copy of their shape exists.
Delivered through a plain callback so the store knows nothing about WebSockets or alerting. Every
event has a ``message``: one sentence naming the problem and the command that fixes it, no secret.
"""

from __future__ import annotations

from collections.abc import Callable

from nexus.protocol.events import AuthExpiring, AuthNeedsReauth, AuthRefreshed

ExpiryWarning = AuthExpiring
"""A token Nexus cannot refresh expires within ``days`` days (fired once per threshold: 7, 1)."""
ReauthRequired = AuthNeedsReauth
"""A profile's refresh token is dead (reused or revoked); the next profile serves meanwhile."""
TokenRefreshed = AuthRefreshed
"""A profile got a new access token; ``adopted`` when a peer process had already refreshed it."""

AuthEvent = AuthExpiring | AuthNeedsReauth | AuthRefreshed
AuthEventSink = Callable[[AuthEvent], None]
