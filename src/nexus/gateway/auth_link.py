"""Connect the credential store to the gateway: its profiles in /status, its events on the bus.

Expiry warnings and needs-reauth reach every connected client (and, through the bus, channels and
alerts) the moment the store notices them, each with the command that fixes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nexus.auth import AuthEvent, CombinedSource
from nexus.gateway.runtime import GatewayRuntime


def link_auth(runtime: GatewayRuntime, credentials: CombinedSource) -> Callable[[], None]:
    """Returns the function that undoes the link."""

    def status() -> list[tuple[str, Any]]:
        return [credentials.status_entry()]

    def publish(event: AuthEvent) -> None:
        runtime.bus.publish(event)  # the store speaks the vocabulary already

    runtime.status_providers.append(status)
    unsubscribe = credentials.store.subscribe(publish)

    def unlink() -> None:
        unsubscribe()
        if status in runtime.status_providers:
            runtime.status_providers.remove(status)

    return unlink
