"""The gateway's side of the channel seam: the runtime offered to channels as a ``ChannelHost``, and
the channel manager wired into /status and /readyz.

Channels see only ``accept`` and a stream of :class:`RunEvent`; they never see the runtime, the bus's
event shape, or the HTTP app. A listener error is contained here, never raised into a run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from nexus.channels import Accepted, ChannelManager, RunEvent
from nexus.gateway.events import Event
from nexus.gateway.runtime import GatewayRuntime
from nexus.protocol import frames

log = logging.getLogger(__name__)


class GatewayChannelHost:
    def __init__(self, runtime: GatewayRuntime) -> None:
        self._runtime = runtime

    def accept(self, *, session: str, text: str, channel: str, sender: str, idempotency_key: str) -> Accepted:
        run, created = self._runtime.accept(
            session=session, text=text, channel=channel, sender=sender, idempotency_key=idempotency_key
        )
        return Accepted(run_id=run.id, created=created)

    def listen(self, callback: Callable[[RunEvent], None]) -> None:
        def on_event(event: Event) -> None:
            translated = to_run_event(event)
            if translated is None:
                return
            try:
                callback(translated)
            except Exception:
                log.exception("channel listener failed on %s", event.name)

        self._runtime.bus.listen(on_event)


def to_run_event(event: Event) -> RunEvent | None:
    payload = event.payload
    run_id = str(payload.get("run_id") or "")
    if not run_id:
        return None
    if event.name == frames.EV_RUN_DELTA:
        return RunEvent("delta", run_id, event.session, text=str(payload.get("text") or ""))
    if event.name == frames.EV_RUN_FALLBACK and payload.get("after_tokens"):
        return RunEvent("reset", run_id, event.session)
    if event.name == frames.EV_RUN_FINAL:
        return RunEvent("final", run_id, event.session, text=payload.get("text"))
    if event.name == frames.EV_RUN_ERROR:
        return RunEvent("error", run_id, event.session, error=str(payload.get("error") or "failed"))
    return None


class NoChannels:
    """Stands in when the channel layer itself failed to start: the gateway serves on without it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.names: list[str] = []

    def notify_owner(self, text: str, *, channel: str | None = None) -> int:
        return 0

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
