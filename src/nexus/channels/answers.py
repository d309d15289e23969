"""Run events to channel answers: a streamed preview edited as deltas arrive, then the final answer
(or the failure) through the outbox. A run is answered where its stored route says it came from,
never by parsing its session name. Called synchronously by the host: it only records and wakes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from nexus.channels.outbound import Outbound
from nexus.channels.slot import Slot
from nexus.channels.streaming import StreamPump
from nexus.common.clock import Clock
from nexus.protocol import events as ev
from nexus.store.inbound import Route

log = logging.getLogger("nexus.channels.manager")

_ANSWER_EVENTS = ev.RunDelta | ev.RunFallback | ev.RunEnded


class Answers:
    def __init__(
        self,
        *,
        slots: Mapping[str, Slot],
        outbound: Outbound,
        streams: dict[str, StreamPump],
        clock: Clock,
        stopping: asyncio.Event,
    ) -> None:
        self._slots = slots
        self._outbound = outbound
        self._streams = streams
        self._clock = clock
        self._stopping = stopping

    def on_event(self, event: ev.Event) -> None:
        """Never raises into the gateway's run loop."""
        if not isinstance(event, _ANSWER_EVENTS) or self._stopping.is_set():
            return
        if isinstance(event, ev.RunFallback) and not event.after_tokens:
            return
        try:
            route = self._outbound.route(event.run_id)
            if route is None or route.channel not in self._slots:
                return
            if isinstance(event, ev.RunDelta | ev.RunFallback):
                pump = self._streams.get(event.run_id) or self._new_pump(route, event.run_id)
                if pump is not None and isinstance(event, ev.RunDelta):
                    pump.feed(event.text)
                elif pump is not None:
                    pump.reset()  # a fallback discarded the text streamed so far
                return
            pump = self._streams.get(event.run_id)
            if pump is not None:
                pump.close()
            if isinstance(event, ev.RunFinal):
                self._outbound.queue_answer(route, event.run_id, event.run.text, None)
            else:
                self._outbound.queue_answer(route, event.run_id, None, event.run.error or "failed")
        except Exception:
            log.exception("channel event handling failed for run %s", event.run_id)

    def streaming(self, run_id: str) -> bool:
        return run_id in self._streams

    def close(self) -> list[asyncio.Task[None]]:
        """Stop every preview; returns their tasks for the caller to await."""
        tasks = []
        for pump in list(self._streams.values()):
            pump.close()
            if pump.task is not None:
                tasks.append(pump.task)
        return tasks

    def _new_pump(self, route: Route, run_id: str) -> StreamPump | None:
        slot = self._slots[route.channel]
        channel = slot.channel
        if channel is None or slot.settings is None:
            return None
        routes = self._outbound.routes

        async def send(text: str) -> str:
            message_id = await channel.send(route.chat_id, text, reply_to=route.message_id)
            routes.set_placeholder(route, message_id)
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
            message_id=routes.placeholder(route),
            clock=self._clock,
        )
        self._streams[run_id] = pump
        pump.start(name=f"stream-{run_id}")
        return pump
