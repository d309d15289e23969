"""In-process event fan-out from runs and the router to WebSocket clients.

A subscriber gets a bounded queue: a client too slow to keep up is dropped (it reconnects and resyncs
from the durable store) instead of growing the gateway's memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    name: str
    payload: dict[str, Any]
    session: str | None = None
    """None for gateway-wide events (tick, cooldowns, auth alerts)."""


SessionFilter = Callable[[str | None], bool]


@dataclass(eq=False)
class Subscription:
    wants: SessionFilter
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(maxsize=2000))
    overflowed: bool = False


class EventBus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._listeners: list[Callable[[Event], None]] = []

    def subscribe(self, wants: SessionFilter) -> Subscription:
        sub = Subscription(wants=wants)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def listen(self, callback: Callable[[Event], None]) -> None:
        """A synchronous in-process listener (waiters, channels, logging)."""
        self._listeners.append(callback)

    def publish(self, name: str, payload: dict[str, Any], *, session: str | None = None) -> None:
        event = Event(name=name, payload=payload, session=session)
        for callback in self._listeners:
            callback(event)
        for sub in list(self._subs):
            if sub.overflowed or not sub.wants(session):
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.overflowed = True
                with contextlib.suppress(asyncio.QueueEmpty):
                    sub.queue.get_nowait()
                sub.queue.put_nowait(Event(name="overflow", payload={}))

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)
