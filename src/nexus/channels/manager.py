"""Run every enabled channel, and connect them to the gateway through a host.

The manager only composes; each job has its own module, and none can take down the gateway or another
channel:

- :mod:`~nexus.channels.supervision` keeps each channel connected (start, receive, back off);
- :mod:`~nexus.channels.outbound` drains the durable outbox per channel and queues answers;
- :mod:`~nexus.channels.answers` turns run events into streamed previews and final answers;
- :mod:`~nexus.channels.owner_alerts` queues owner alerts; :mod:`~nexus.channels.webhooks` serves
  platform webhooks to the channel that declared them.

Run events arrive synchronously from the host; the listener only records and wakes tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nexus.channels.answers import Answers
from nexus.channels.base import (
    Channel,
    ChannelHost,
    InboundHandler,
    InboundMessage,
    WebhookRequest,
    WebhookResponse,
)
from nexus.channels.errors import ChannelConfigError
from nexus.channels.intake import Intake
from nexus.channels.manifest import ChannelManifest
from nexus.channels.outbound import Outbound
from nexus.channels.owner_alerts import notify_owner
from nexus.channels.registry import MANIFESTS
from nexus.channels.secrets import ChannelSecrets
from nexus.channels.slot import Slot
from nexus.channels.state import ChannelHealth, ChannelState
from nexus.channels.streaming import StreamPump
from nexus.channels.supervision import supervise
from nexus.channels.webhooks import dispatch
from nexus.common.clock import Clock, SystemClock
from nexus.protocol import events as ev
from nexus.store import open_database
from nexus.store.inbound import PairingStore, RouteStore
from nexus.store.outbox import Outbox

log = logging.getLogger(__name__)

ChannelFactory = Callable[..., Channel]
"""``factory(config=, token=, lock_dir=, clock=) -> Channel``."""

TYPING_AFTER_S = 0.5


def default_lock_dir() -> Path:
    """Host-wide (not per NEXUS_HOME): two gateways with different homes on one bot token still meet."""
    return Path(
        os.environ.get("NEXUS_LOCK_DIR") or Path(tempfile.gettempdir()) / f"nexus-{os.getuid()}-locks"
    )


class ChannelManager:
    def __init__(
        self,
        *,
        host: ChannelHost,
        configs: Mapping[str, Mapping[str, Any]],
        home: Path,
        state_db: Path | None = None,
        clock: Clock | None = None,
        manifests: Mapping[str, ChannelManifest] = MANIFESTS,
        factories: Mapping[str, ChannelFactory] | None = None,
        secrets: ChannelSecrets | None = None,
        lock_dir: Path | None = None,
    ) -> None:
        self._host = host
        self._clock = clock or SystemClock()
        self._manifests = manifests
        self._factories = dict(factories or {})
        self._secrets = secrets or ChannelSecrets(home)
        self._lock_dir = lock_dir or default_lock_dir()
        self._conn: sqlite3.Connection = open_database(state_db or Path(home) / "state.db")
        self.routes = RouteStore(self._conn, now=self._clock.time)
        self.pairings = PairingStore(self._conn, now=self._clock.time)
        self.outbox = Outbox(self._conn, now=self._clock.time)
        self._slots: dict[str, Slot] = {}
        self._streams: dict[str, StreamPump] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._outbound = Outbound(
            outbox=self.outbox,
            routes=self.routes,
            slots=self._slots,
            streams=self._streams,
            clock=self._clock,
            stopping=self._stopping,
        )
        self._answers = Answers(
            slots=self._slots,
            outbound=self._outbound,
            streams=self._streams,
            clock=self._clock,
            stopping=self._stopping,
        )
        self._configure(configs)

    # -- set-up -----------------------------------------------------------------------------------

    def _configure(self, configs: Mapping[str, Mapping[str, Any]]) -> None:
        try:
            with_secret = set(self._secrets.channels())
        except ChannelConfigError as exc:
            with_secret = set()
            log.error("channel secrets unreadable: %s", exc)
        for name in sorted(set(configs) | (with_secret & set(self._manifests))):
            health = ChannelHealth(name=name, since=self._clock.time())
            slot = Slot(name=name, health=health)
            manifest = self._manifests.get(name)
            if manifest is None:
                self._fail(
                    slot, f"channels.{name}: unknown channel; known: {', '.join(sorted(self._manifests))}"
                )
                self._slots[name] = slot
                continue
            try:
                settings: Any = manifest.validate(configs.get(name, {}))
            except ChannelConfigError as exc:
                self._fail(slot, str(exc))
                self._slots[name] = slot
                continue
            if not settings.enabled:
                continue
            slot.settings = settings
            self._slots[name] = slot

    def _fail(self, slot: Slot, message: str) -> None:
        slot.health.move(ChannelState.FAILED, now=self._clock.time())
        slot.health.error(message, now=self._clock.time())
        log.error("channel %s: %s", slot.name, message)

    async def _build(self, slot: Slot) -> Channel:
        assert slot.settings is not None
        manifest = self._manifests[slot.name]
        token = self._secrets.get(slot.name)
        if token is None:
            raise ChannelConfigError(
                [f"channels.{slot.name}: no token stored: run `nexus channels add {slot.name}`"]
            )
        # the platform SDK's import runs in a worker: the event loop must not sit on it meanwhile
        factory = self._factories.get(slot.name) or await asyncio.to_thread(manifest.load_factory)
        return factory(config=slot.settings, token=token, lock_dir=self._lock_dir, clock=self._clock)

    async def start(self) -> None:
        """Listen for run events, queue answers that ended while nobody listened, start the channels."""
        self._host.listen(self._answers.on_event)
        self._host.listen(self._on_tool_step)
        self._outbound.reconcile()
        for slot in self._slots.values():
            if slot.settings is None:
                continue
            slot.intake = Intake(
                channel=slot.name,
                settings=slot.settings,
                host=self._host,
                routes=self.routes,
                pairings=self.pairings,
                outbox=self.outbox,
                clock=self._clock,
            )
            slot.tasks = [
                asyncio.create_task(
                    supervise(
                        slot,
                        build=self._build,
                        handler=self._handler(slot),
                        stopping=self._stopping,
                        clock=self._clock,
                    ),
                    name=f"channel-{slot.name}",
                ),
                asyncio.create_task(self._outbound.drain(slot), name=f"channel-{slot.name}-outbox"),
            ]

    async def stop(self) -> None:
        self._stopping.set()
        tasks = [t for slot in self._slots.values() for t in slot.tasks]
        tasks += self._answers.close() + list(self._background)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5)
        for slot in self._slots.values():
            if slot.channel is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(slot.channel.stop(), 5)
            if slot.health.state is not ChannelState.STOPPED:
                with contextlib.suppress(Exception):
                    slot.health.move(ChannelState.STOPPED, now=self._clock.time())
        self._conn.close()

    # -- inbound ----------------------------------------------------------------------------------

    def _handler(self, slot: Slot) -> InboundHandler:
        async def handle(msg: InboundMessage) -> None:
            assert slot.intake is not None and slot.channel is not None
            slot.health.inbound_at = self._clock.time()
            result = slot.intake.handle(msg)
            if result.accepted is not None:
                if result.accepted.created:
                    self._spawn(self._typing_unless_streaming(slot, result.accepted.run_id, msg.chat_id))
                else:
                    self._outbound.reconcile()  # a redelivered message whose run already ended unobserved
            slot.wake.set()

        return handle

    async def _typing_unless_streaming(self, slot: Slot, run_id: str, chat_id: str) -> None:
        """Show "typing..." only for an answer slow to start: a fast one shows its preview instead,
        and in a burst the indicator would only delay the previews behind it."""
        await asyncio.sleep(TYPING_AFTER_S)
        if self._answers.streaming(run_id) or self._outbound.answered(run_id):
            return
        if slot.channel is not None:
            await slot.channel.typing(chat_id)

    def _on_tool_step(self, event: ev.Event) -> None:
        """A tool step is progress: say so in the chat the run came from (never raises)."""
        if isinstance(event, ev.RunTool) and event.state == "started":
            try:
                self._typing_for(event.run_id)
            except Exception:
                log.exception("typing for run %s failed", event.run_id)

    def _typing_for(self, run_id: str) -> None:
        route = None if self._stopping.is_set() else self._outbound.route(run_id)
        slot = self._slots.get(route.channel) if route is not None else None
        if route is None or slot is None or slot.channel is None:
            return
        if slot.health.state is ChannelState.CONNECTED:
            self._spawn(slot.channel.typing(route.chat_id))

    def _spawn(self, coro: Any) -> None:
        async def quiet() -> None:
            with contextlib.suppress(Exception):
                await coro

        task = asyncio.create_task(quiet())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def webhook(self, name: str, request: WebhookRequest) -> WebhookResponse:
        """A platform's HTTP call to ``/channels/NAME/...`` (the gateway mounts it; see webhooks)."""
        return await dispatch(self._slots.get(name), self._manifests.get(name), request)

    def webhook_urls(self) -> frozenset[str]:
        """Gateway paths served without the gateway token: the declared webhooks of configured channels."""
        urls: set[str] = set()
        for name, slot in self._slots.items():
            manifest = self._manifests.get(name)
            if manifest is not None and slot.settings is not None:
                urls |= manifest.webhook_urls()
        return frozenset(urls)

    # -- owner alerts -----------------------------------------------------------------------------

    def notify_owner(self, text: str, *, channel: str | None = None, skip: str | None = None) -> int:
        """Queue ``text`` (durably) to every owner chat of ``channel`` (default: every channel but
        ``skip``); returns how many messages were queued. Delivery follows the outbox's retries."""
        if self._stopping.is_set():
            return 0
        slots = [slot for slot in self._slots.values() if slot.name != skip]
        return notify_owner(slots, self.outbox, text, channel=channel)

    def final_failures(self) -> dict[str, str]:
        """Channels in ``failed`` (retrying cannot help: a token, an intent, the config) with the error."""
        return {
            slot.name: slot.health.last_error or "no error recorded"
            for slot in self._slots.values()
            if slot.health.state is ChannelState.FAILED
        }

    # -- health -----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for slot in self._slots.values():
            transport = slot.channel.health() if slot.channel is not None else None
            alive = bool(transport and transport.alive and slot.health.state is ChannelState.CONNECTED)
            if transport is not None:
                slot.health.transport_ok_at = transport.ok_at
            body = slot.health.to_status(transport_alive=alive)
            if transport is not None:
                body.update(transport.details)
            body["outbox"] = self.outbox.counts(slot.name)
            result[slot.name] = body
        return result

    def readiness_problems(self) -> list[str]:
        problems = []
        for slot in self._slots.values():
            if slot.health.state in (ChannelState.BACKOFF, ChannelState.STANDBY, ChannelState.FAILED):
                problems.append(f"channel {slot.name} is {slot.health.state}: {slot.health.last_error}")
        return problems

    def state(self, name: str) -> ChannelState:
        return self._slots[name].health.state

    @property
    def names(self) -> list[str]:
        return list(self._slots)
