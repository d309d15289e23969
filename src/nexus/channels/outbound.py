"""Everything a channel sends goes through the durable outbox; this drains it, and puts answers in it.

Per channel one loop drains due rows while the channel is connected: chats in parallel, each chat in
order, and a chat whose answer preview is still being edited waits for that last edit. An answer
is queued under ``run:<id>`` (at most once per run), so a restart re-queues nothing twice; answers
of runs that ended while nobody listened are found by :meth:`Outbound.reconcile`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from nexus.channels.delivery import deliver
from nexus.channels.slot import Slot
from nexus.channels.state import ChannelState
from nexus.channels.streaming import StreamPump
from nexus.common.clock import Clock
from nexus.store.inbound import Route, RouteStore
from nexus.store.outbox import Outbox, OutboxItem, OutboxStatus

IDLE_POLL_S = 1.0
ROUTE_CACHE_MAX = 10_000


class Outbound:
    def __init__(
        self,
        *,
        outbox: Outbox,
        routes: RouteStore,
        slots: Mapping[str, Slot],
        streams: dict[str, StreamPump],
        clock: Clock,
        stopping: asyncio.Event,
    ) -> None:
        self.outbox = outbox
        self.routes = routes
        self._slots = slots
        self._streams = streams
        self._clock = clock
        self._stopping = stopping
        self._route_cache: dict[str, Route | None] = {}

    def route(self, run_id: str) -> Route | None:
        """Where a run came from (and so where its answer goes); None for a run no channel sent."""
        if run_id not in self._route_cache:
            if len(self._route_cache) > ROUTE_CACHE_MAX:
                self._route_cache.clear()
            self._route_cache[run_id] = self.routes.for_run(run_id)
        return self._route_cache[run_id]

    def _done_with(self, run_id: str | None) -> None:
        self._streams.pop(run_id or "", None)
        self._route_cache.pop(run_id or "", None)

    # -- into the outbox --------------------------------------------------------------------------

    def queue_answer(self, route: Route, run_id: str, text: str | None, error: str | None) -> None:
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

    def reconcile(self) -> None:
        """Queue the answers of routed runs that ended while no listener saw them (crash, restart)."""
        for row in self.routes.finished_unqueued():
            self.queue_answer(row.route, row.run_id, row.answer if row.status == "done" else None, row.error)

    def answered(self, run_id: str) -> bool:
        return self.outbox.by_key(f"run:{run_id}") is not None

    # -- out of the outbox ------------------------------------------------------------------------

    async def drain(self, slot: Slot) -> None:
        """Drain due outbox rows of one channel until the framework stops."""
        while not self._stopping.is_set():
            slot.wake.clear()
            timeout = IDLE_POLL_S
            if slot.connected:
                by_chat, blocked = self._due_by_chat(slot)
                await asyncio.gather(*(self._deliver_chat(slot, items) for items in by_chat.values()))
                due = self.outbox.next_due_at(slot.name)
                if due is not None:
                    timeout = min(max(due - self._clock.time(), 0.0), IDLE_POLL_S)
                if blocked:
                    timeout = min(timeout, 0.02)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(slot.wake.wait(), timeout)

    def _due_by_chat(self, slot: Slot) -> tuple[dict[str, list[OutboxItem]], set[str]]:
        by_chat: dict[str, list[OutboxItem]] = {}
        blocked: set[str] = set()
        for item in self.outbox.due(slot.name, limit=200):
            pump = self._streams.get(item.run_id or "")
            if item.chat_id in blocked or (pump is not None and pump.busy):
                blocked.add(item.chat_id)  # the preview's last edit first; order within a chat kept
                by_chat.pop(item.chat_id, None)
                continue
            by_chat.setdefault(item.chat_id, []).append(item)
        return by_chat, blocked

    async def _deliver_chat(self, slot: Slot, items: list[OutboxItem]) -> None:
        for item in items:
            channel = slot.channel
            if channel is None or slot.health.state is not ChannelState.CONNECTED:
                return
            placeholder = None
            if item.run_id is not None:
                route = self.route(item.run_id)
                placeholder = self.routes.placeholder(route) if route is not None else None
            sent = await deliver(
                item, channel=channel, outbox=self.outbox, placeholder=placeholder, now=self._clock.time()
            )
            if not sent:
                latest = self.outbox.get(item.id)
                if latest is not None and latest.last_error:
                    slot.health.error(f"send: {latest.last_error}", now=self._clock.time())
                if latest is not None and latest.status is OutboxStatus.DEAD:
                    self._done_with(item.run_id)
                return
            slot.health.outbound_at = self._clock.time()
            self._done_with(item.run_id)
