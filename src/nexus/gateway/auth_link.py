"""Connect the credential store to the gateway: its profiles in /status, its events on the bus.

Expiry warnings and needs-reauth reach every connected client (and, through the bus, channels and
alerts) the moment the store notices them, each with the command that fixes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from nexus.auth import CombinedSource, ExpiryWarning, ReauthRequired, TokenRefreshed
from nexus.auth.events import AuthEvent
from nexus.gateway.runtime import GatewayRuntime
from nexus.protocol import events as ev

VOCABULARY: dict[type, type[ev.Event]] = {
    ExpiryWarning: ev.AuthExpiring,
    ReauthRequired: ev.AuthNeedsReauth,
    TokenRefreshed: ev.AuthRefreshed,
}
"""Each credential-store event and the vocabulary event it becomes (same fields)."""


def link_auth(runtime: GatewayRuntime, credentials: CombinedSource) -> Callable[[], None]:
    """Returns the function that undoes the link."""

    def status() -> list[tuple[str, Any]]:
        return [credentials.status_entry()]

    def publish(event: AuthEvent) -> None:
        runtime.bus.publish(VOCABULARY[type(event)](**asdict(event)))

    runtime.status_providers.append(status)
    unsubscribe = credentials.store.subscribe(publish)

    def unlink() -> None:
        unsubscribe()
        if status in runtime.status_providers:
            runtime.status_providers.remove(status)

    return unlink
