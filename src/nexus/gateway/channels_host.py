"""The gateway's side of the channel seam: the runtime offered to channels as a ``ChannelHost``, and
the channel manager wired into /status and /readyz.

Channels see only ``accept`` and the event vocabulary (:mod:`nexus.protocol.events`); they never see
the runtime or the HTTP app. A listener error is contained by the bus, never raised into a run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from nexus.channels import Accepted, ChannelManager
from nexus.channels.base import WebhookRequest, WebhookResponse
from nexus.gateway.runtime import GatewayRuntime
from nexus.protocol.events import Event

log = logging.getLogger(__name__)


class GatewayChannelHost:
    def __init__(self, runtime: GatewayRuntime) -> None:
        self._runtime = runtime

    def accept(self, *, session: str, text: str, channel: str, sender: str, idempotency_key: str) -> Accepted:
        run, created = self._runtime.accept(
            session=session, text=text, channel=channel, sender=sender, idempotency_key=idempotency_key
        )
        return Accepted(run_id=run.id, created=created)

    def listen(self, callback: Callable[[Event], None]) -> None:
        self._runtime.bus.listen(callback)


class NoChannels:
    """Stands in when the channel layer itself failed to start: the gateway serves on without it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.names: list[str] = []

    def notify_owner(self, text: str, *, channel: str | None = None, skip: str | None = None) -> int:
        return 0

    def final_failures(self) -> dict[str, str]:
        return {"channels": f"the channel layer did not start: {self.reason}"}

    async def webhook(self, name: str, request: WebhookRequest) -> WebhookResponse:
        return WebhookResponse(status=503, body=f"channels are down: {self.reason}".encode())

    def webhook_urls(self) -> frozenset[str]:
        return frozenset()

    async def stop(self) -> None:
        return None


async def start_channels(runtime: GatewayRuntime, **overrides: Any) -> ChannelManager | NoChannels:
    """Start every enabled channel and publish their health; ``overrides`` go to the manager (tests).

    Never raises: a broken channel layer must not keep the gateway (API, TUI) from serving.
    """
    try:
        manager = ChannelManager(
            host=GatewayChannelHost(runtime),
            configs=runtime.config.channels,
            home=runtime.paths.home,
            state_db=runtime.paths.state_db,
            **overrides,
        )
        await manager.start()
    except Exception as exc:
        log.exception("channels could not start; the gateway serves without them")
        reason = f"channels could not start: {type(exc).__name__}: {exc}"
        runtime.readiness_checks.append(lambda: [reason])
        runtime.channels = NoChannels(reason)
        return runtime.channels
    if manager.names:
        runtime.status_providers.append(lambda: [("channels", manager.status())])
        runtime.readiness_checks.append(manager.readiness_problems)
    runtime.channels = manager
    return manager
