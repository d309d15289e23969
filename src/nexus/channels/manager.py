"""Run every enabled channel as a supervised task, and connect them to the gateway through a host.

Per channel, three things run side by side and none can take down the gateway or another channel:

- the supervisor: start -> receive -> (error) -> backoff along the reconnect ladder -> start ...;
  any exception, even a bug, ends in BACKOFF with the error recorded, never in a dead task;
- the deliverer: drains the durable outbox while the channel is connected;
- stream pumps: one per answer being streamed, editing the placeholder message.

Run events arrive synchronously from the host; the listener only records and wakes tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus.channels import ladder
from nexus.channels.base import Channel, ChannelHost, ChannelSettings, InboundMessage
from nexus.channels.delivery import deliver
from nexus.channels.errors import AuthRejected, ChannelConfigError, ChannelError, Conflict
from nexus.channels.intake import Intake
from nexus.channels.manifest import ChannelManifest
from nexus.channels.registry import MANIFESTS
from nexus.channels.secrets import ChannelSecrets
from nexus.channels.state import ChannelHealth, ChannelState
from nexus.channels.streaming import StreamPump
from nexus.common.clock import Clock, SystemClock
from nexus.protocol import events as ev
from nexus.store import open_database
from nexus.store.inbound import PairingStore, Route, RouteStore
from nexus.store.outbox import Outbox, OutboxItem, OutboxStatus

log = logging.getLogger(__name__)

ChannelFactory = Callable[..., Channel]
"""``factory(config=, token=, lock_dir=, clock=) -> Channel``."""

IDLE_POLL_S = 1.0
TYPING_AFTER_S = 0.5


def default_lock_dir() -> Path:
    """Host-wide (not per NEXUS_HOME): two gateways with different homes on one bot token still meet."""
    return Path(
        os.environ.get("NEXUS_LOCK_DIR") or Path(tempfile.gettempdir()) / f"nexus-{os.getuid()}-locks"
    )


@dataclass(eq=False)
class _Slot:
    name: str
    health: ChannelHealth
    settings: ChannelSettings | None = None
    channel: Channel | None = None
    intake: Intake | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


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
        self._slots: dict[str, _Slot] = {}
        self._streams: dict[str, StreamPump] = {}
        self._route_cache: dict[str, Route | None] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
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
            slot = _Slot(name=name, health=health)
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

    def _fail(self, slot: _Slot, message: str) -> None:
        slot.health.move(ChannelState.FAILED, now=self._clock.time())
        slot.health.error(message, now=self._clock.time())
        log.error("channel %s: %s", slot.name, message)

    async def _build(self, slot: _Slot) -> Channel:
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
        self._host.listen(self._on_event)
        self._reconcile()
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
                asyncio.create_task(self._supervise(slot), name=f"channel-{slot.name}"),
                asyncio.create_task(self._deliver_loop(slot), name=f"channel-{slot.name}-outbox"),
            ]

    async def stop(self) -> None:
        self._stopping.set()
        for pump in list(self._streams.values()):
            pump.close()
        tasks = [t for slot in self._slots.values() for t in slot.tasks]
        tasks += [p.task for p in self._streams.values() if p.task is not None] + list(self._background)
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

    # -- supervision ------------------------------------------------------------------------------

    async def _supervise(self, slot: _Slot) -> None:
        failures = 0
        health = slot.health
        while not self._stopping.is_set():
            health.move(ChannelState.STARTING, now=self._clock.time())
            connected_at: float | None = None
            kind = ladder.FailureKind.TRANSPORT
            to = ChannelState.BACKOFF
            try:
                if slot.channel is None:
                    slot.channel = await self._build(slot)
                await slot.channel.start()
                connected_at = self._clock.monotonic()
                health.move(ChannelState.CONNECTED, now=self._clock.time())
                health.identity = slot.channel.health().identity
                slot.wake.set()
                assert slot.intake is not None
                await slot.channel.receive(self._handler(slot))
                if self._stopping.is_set():
                    break
                raise ChannelError("receive ended without being stopped")
            except asyncio.CancelledError:
                raise
            except Conflict as exc:
                kind = ladder.FailureKind.STANDBY if exc.local else ladder.FailureKind.CONFLICT
                to = ChannelState.STANDBY
                health.error(str(exc), now=self._clock.time())
            except (AuthRejected, ChannelConfigError) as exc:
                kind, to = ladder.FailureKind.FATAL, ChannelState.FAILED
                health.error(str(exc), now=self._clock.time())
            except ChannelError as exc:
                health.error(str(exc), now=self._clock.time())
            except Exception as exc:
                log.exception("channel %s crashed; it restarts, the gateway carries on", slot.name)
                health.error(f"crashed: {type(exc).__name__}: {exc}", now=self._clock.time())
            if slot.channel is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(slot.channel.stop(), 10)
            connected_for = None if connected_at is None else self._clock.monotonic() - connected_at
            failures = ladder.failures_after(failures, connected_for_s=connected_for)
            delay = ladder.reconnect_delay(failures, kind)
            health.move(to, now=self._clock.time())
            health.reconnects += 1
            health.retry_at = self._clock.time() + delay
            log.warning("channel %s: %s; next attempt in %.1fs", slot.name, health.last_error, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            health.retry_at = None

    def _handler(self, slot: _Slot) -> Callable[[InboundMessage], Any]:
        async def handle(msg: InboundMessage) -> None:
            assert slot.intake is not None and slot.channel is not None
            slot.health.inbound_at = self._clock.time()
            result = slot.intake.handle(msg)
            if result.accepted is not None:
                if result.accepted.created:
                    self._spawn(self._typing_unless_streaming(slot, result.accepted.run_id, msg.chat_id))
                else:
                    self._reconcile()  # a redelivered message whose run already ended unobserved
            slot.wake.set()

        return handle

    async def _typing_unless_streaming(self, slot: _Slot, run_id: str, chat_id: str) -> None:
        """Show "typing..." only for an answer slow to start: a fast one shows its preview instead,
        and in a burst the indicator would only delay the previews behind it."""
        await asyncio.sleep(TYPING_AFTER_S)
        if run_id in self._streams or self.outbox.by_key(f"run:{run_id}") is not None:
            return  # already streaming, or already answered
        if slot.channel is not None:
            await slot.channel.typing(chat_id)

    def _typing_for(self, run_id: str) -> None:
        route = None if self._stopping.is_set() else self._route(run_id)
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

    # -- outbound ---------------------------------------------------------------------------------

    async def _deliver_loop(self, slot: _Slot) -> None:
        """Drain due outbox rows: chats in parallel, each chat in order (the adapter bounds requests)."""
        while not self._stopping.is_set():
            slot.wake.clear()
            timeout = IDLE_POLL_S
            if slot.health.state is ChannelState.CONNECTED and slot.channel is not None:
                by_chat: dict[str, list[OutboxItem]] = {}
                blocked: set[str] = set()
                for item in self.outbox.due(slot.name, limit=200):
                    pump = self._streams.get(item.run_id or "")
                    if item.chat_id in blocked or (pump is not None and pump.busy):
                        blocked.add(item.chat_id)  # the preview's last edit first; order within a chat kept
                        by_chat.pop(item.chat_id, None)
                        continue
                    by_chat.setdefault(item.chat_id, []).append(item)
                await asyncio.gather(*(self._deliver_chat(slot, items) for items in by_chat.values()))
                due = self.outbox.next_due_at(slot.name)
                if due is not None:
                    timeout = min(max(due - self._clock.time(), 0.0), IDLE_POLL_S)
                if blocked:
                    timeout = min(timeout, 0.02)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(slot.wake.wait(), timeout)

    async def _deliver_chat(self, slot: _Slot, items: list[OutboxItem]) -> None:
        for item in items:
            channel = slot.channel
            if channel is None or slot.health.state is not ChannelState.CONNECTED:
                return
            placeholder = None
            if item.run_id is not None:
                route = self._route(item.run_id)
                placeholder = self.routes.placeholder(route) if route is not None else None
            sent = await deliver(
                item, channel=channel, outbox=self.outbox, placeholder=placeholder, now=self._clock.time()
            )
            if not sent:
                latest = self.outbox.get(item.id)
                if latest is not None and latest.last_error:
                    slot.health.error(f"send: {latest.last_error}", now=self._clock.time())
                if latest is not None and latest.status is OutboxStatus.DEAD:
                    self._streams.pop(item.run_id or "", None)
                    self._route_cache.pop(item.run_id or "", None)
                return
            slot.health.outbound_at = self._clock.time()
            self._streams.pop(item.run_id or "", None)
            self._route_cache.pop(item.run_id or "", None)

    def _reconcile(self) -> None:
        """Queue the answers of routed runs that ended while no listener saw them (crash, restart)."""
        for row in self.routes.finished_unqueued():
            self._queue_answer(row.route, row.run_id, row.answer if row.status == "done" else None, row.error)

    def _queue_answer(self, route: Route, run_id: str, text: str | None, error: str | None) -> None:
        body = text if text is not None else f"⚠️ No answer: {(error or 'unknown error').splitlines()[0]}"
        self.outbox.enqueue(
            channel=route.channel,
            chat_id=route.chat_id,
            dedupe_key=f"run:{run_id}",
            text=body,
            run_id=run_id,
            reply_to=route.message_id,
            route_key=(route.session, route.idempotency_key),
        )
        slot = self._slots.get(route.channel)
        if slot is not None:
            slot.wake.set()

    def _route(self, run_id: str) -> Route | None:
        if run_id not in self._route_cache:
            if len(self._route_cache) > 10_000:
                self._route_cache.clear()
            self._route_cache[run_id] = self.routes.for_run(run_id)
        return self._route_cache[run_id]

    def _on_event(self, event: ev.Event) -> None:
        """Synchronous, from the host: never raises into the gateway's run loop. A run is answered
        where its stored route says it came from (never by parsing its session name)."""
        if isinstance(event, ev.RunTool) and event.state == "started":
            self._typing_for(event.run_id)  # a tool step is progress: say so in the chat
            return
        if not isinstance(event, ev.RunDelta | ev.RunFallback | ev.RunFinal | ev.RunError):
            return
        if isinstance(event, ev.RunFallback) and not event.after_tokens:
            return
        try:
            if self._stopping.is_set():
                return
            route = self._route(event.run_id)
            if route is None or route.channel not in self._slots:
                return
            if isinstance(event, ev.RunDelta | ev.RunFallback):
                pump = self._streams.get(event.run_id) or self._new_pump(route, event.run_id)
                if pump is not None and isinstance(event, ev.RunDelta):
                    pump.feed(event.text)
                elif pump is not None:
                    pump.reset()
            else:
                pump = self._streams.get(event.run_id)
                if pump is not None:
                    pump.close()
                if isinstance(event, ev.RunFinal):
                    self._queue_answer(route, event.run_id, event.run.text, None)
                else:
                    self._queue_answer(route, event.run_id, None, event.run.error or "failed")
        except Exception:
            log.exception("channel event handling failed for run %s", event.run_id)

    def _new_pump(self, route: Route, run_id: str) -> StreamPump | None:
        slot = self._slots[route.channel]
        channel = slot.channel
        if channel is None or slot.settings is None:
            return None

        async def send(text: str) -> str:
            message_id = await channel.send(route.chat_id, text, reply_to=route.message_id)
            self.routes.set_placeholder(route, message_id)
            slot.health.outbound_at = self._clock.time()
            return message_id

        async def edit(message_id: str, text: str) -> None:
            await channel.edit(route.chat_id, message_id, text)
            slot.health.outbound_at = self._clock.time()

        pump = StreamPump(
            send=send,
            edit=edit,
            min_interval_s=slot.settings.edit_interval_s,
            limit=channel.message_limit,
            message_id=self.routes.placeholder(route),
            clock=self._clock,
        )
        self._streams[run_id] = pump
        pump.start(name=f"stream-{run_id}")
        return pump

    # -- owner alerts -----------------------------------------------------------------------------

    def notify_owner(self, text: str, *, channel: str | None = None) -> int:
        """Queue ``text`` (durably) to every owner chat of ``channel`` (default: every channel);
        returns how many messages were queued. Delivery follows the outbox's retries."""
        queued = 0
        if self._stopping.is_set():
            return queued
        for slot in self._slots.values():
            if slot.settings is None or (channel is not None and slot.name != channel):
                continue
            for chat in slot.settings.owner_chats():
                self.outbox.enqueue(
                    channel=slot.name, chat_id=chat, dedupe_key=f"alert:{uuid.uuid4().hex}", text=text
                )
                queued += 1
            slot.wake.set()
        return queued

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
