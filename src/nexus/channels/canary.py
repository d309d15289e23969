"""Delivery liveness for socket channels (Slack, Discord): kept apart from transport liveness.

A socket can answer every ping and still deliver nothing ("connected but deaf"). Event recency alone
cannot tell that from a quiet workspace (OpenClaw restarted healthy sockets that way), so when no
event arrived for ``interval_s`` the adapter *probes*: it posts a unique text to a canary channel and
expects its own message back as an event within ``timeout_s``; otherwise :class:`Stalled` (the
manager replaces the connection). Without a canary channel delivery liveness is reported unknown.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from nexus.channels.errors import SendError, Stalled
from nexus.common.clock import Clock

log = logging.getLogger(__name__)

PREFIX = "nexus delivery check "


def probe_due(
    *, now: float, connected_at: float | None, delivered_at: float | None, interval_s: float
) -> bool:
    """Pure: probe when neither the connection nor the last delivery is younger than ``interval_s``."""
    if connected_at is None:
        return False
    return now - max(connected_at, delivered_at or 0.0) >= interval_s


class DeliveryCanary:
    def __init__(self, *, channel: str | None, interval_s: float, timeout_s: float, clock: Clock) -> None:
        self.channel = channel
        self._interval = interval_s
        self._timeout = timeout_s
        self._clock = clock
        self.ok_at: float | None = None
        """Wall time of the last event seen (any event proves delivery)."""
        self._ok_mono: float | None = None
        self._connected_at: float | None = None
        self._waiting: dict[str, asyncio.Future[None]] = {}

    def connected(self) -> None:
        self._connected_at = self._clock.monotonic()

    def delivered(self) -> None:
        self.ok_at, self._ok_mono = self._clock.time(), self._clock.monotonic()

    def echo(self, text: str | None) -> None:
        """Our own message came back as an event: the probe that posted it succeeds."""
        future = self._waiting.get(text or "")
        if future is not None and not future.done():
            future.set_result(None)

    def due(self) -> bool:
        return self.channel is not None and probe_due(
            now=self._clock.monotonic(),
            connected_at=self._connected_at,
            delivered_at=self._ok_mono,
            interval_s=self._interval,
        )

    async def probe(self, post: Callable[[str, str], Awaitable[Any]], *, platform: str) -> None:
        """``post(channel, text)`` sends the check; raises Stalled if it does not come back in time."""
        assert self.channel is not None
        text = PREFIX + secrets.token_hex(6)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[text] = future
        try:
            await post(self.channel, text)
            await asyncio.wait_for(future, self._timeout)
        except TimeoutError:
            raise Stalled(
                f"{platform} is connected but deaf: the delivery check posted to {self.channel} did not "
                f"come back within {self._timeout:.0f}s; replacing the connection"
            ) from None
        except SendError as exc:
            log.warning("%s: delivery check could not post (%s); trying again later", platform, exc)
            self.connected()
        finally:
            self._waiting.pop(text, None)

    def cancel(self) -> None:
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()

    def details(self, *, active: bool) -> dict[str, Any]:
        alive = None
        if active and self.ok_at is not None:
            alive = self._clock.time() - self.ok_at <= self._interval + self._timeout
        return {
            "delivery_alive": alive,
            "delivery_ok_at": self.ok_at,
            "delivery_probe": "canary" if self.channel else "events only",
        }
