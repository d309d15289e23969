"""In-process fan-out of the typed events (:mod:`nexus.protocol.events`) to listeners and clients.

A subscriber gets a bounded queue: a client too slow to keep up is dropped (it reconnects and resyncs
from the durable store) instead of growing the gateway's memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from nexus.protocol.events import Event

log = logging.getLogger(__name__)

SessionFilter = Callable[[str | None], bool]
Listener = Callable[[Event], None]


class Overflow:
    """Put in a subscriber's queue instead of the events it could not take: not a wire event."""


OVERFLOW = Overflow()


@dataclass(eq=False)
class Subscription:
    wants: SessionFilter
    queue: asyncio.Queue[Event | Overflow] = field(default_factory=lambda: asyncio.Queue(maxsize=2000))
    overflowed: bool = False


class EventBus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._listeners: list[Listener] = []

    def subscribe(self, wants: SessionFilter) -> Subscription:
        sub = Subscription(wants=wants)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def listen(self, callback: Listener) -> Callable[[], None]:
        """A synchronous in-process listener (waiters, channels, alerting); returns the undo.

        A listener that raises is logged and skipped: it can never break the run that published.
        """
        self._listeners.append(callback)

        def unlisten() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return unlisten

    def publish(self, event: Event) -> None:
        for callback in list(self._listeners):
            try:
                callback(event)
            except Exception:
                log.exception("event listener failed on %s", event.name)
        scope = event.scope
        for sub in list(self._subs):
            if sub.overflowed or not sub.wants(scope):
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.overflowed = True
                with contextlib.suppress(asyncio.QueueEmpty):
                    sub.queue.get_nowait()
                sub.queue.put_nowait(OVERFLOW)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)
