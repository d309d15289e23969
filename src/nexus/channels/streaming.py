"""Show a streaming answer by editing one message at a throttled rate.

Best effort by design: the durable answer is the outbox row queued when the run ends, which edits
this same message (the placeholder id is persisted the moment it exists, so even a restart edits
rather than duplicates). A failed edit therefore only stops the live preview, never the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nexus.channels.errors import RateLimited, TransientSendError
from nexus.channels.throttle import edit_delay, preview
from nexus.common.clock import Clock, SystemClock

log = logging.getLogger(__name__)

MAX_RATE_LIMIT_WAIT_S = 30.0
RECONNECT_WAIT_S = 0.5


class StreamPump:
    def __init__(
        self,
        *,
        send: Callable[[str], Awaitable[str]],
        edit: Callable[[str, str], Awaitable[None]],
        min_interval_s: float,
        limit: int,
        message_id: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._send = send
        self._edit = edit
        self._interval = min_interval_s
        self._limit = limit
        self._clock = clock or SystemClock()
        self.message_id = message_id
        self._text = ""
        self._shown = ""
        self._last_edit_at: float | None = None
        self._changed = asyncio.Event()
        self._closed = asyncio.Event()
        self.edits = 0
        self.task: asyncio.Task[None] | None = None

    def start(self, name: str) -> None:
        self.task = asyncio.create_task(self._run(), name=name)

    @property
    def busy(self) -> bool:
        """A send or edit may still be in flight: the final delivery waits for it."""
        return self.task is not None and not self.task.done()

    def feed(self, delta: str) -> None:
        self._text += delta
        self._changed.set()

    def reset(self) -> None:
        self._text = ""
        self._changed.set()

    def close(self) -> None:
        self._closed.set()
        self._changed.set()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), seconds)

    async def _run(self) -> None:
        while not self._closed.is_set():
            delay = edit_delay(
                now=self._clock.monotonic(),
                last_edit_at=self._last_edit_at,
                shown=self._shown,
                pending=self._text,
                min_interval_s=self._interval,
            )
            if delay is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            if delay > 0:
                await self._pause(delay)
                continue
            text = self._text
            try:
                if self.message_id is None:
                    self.message_id = await self._send(preview(text, limit=self._limit))
                else:
                    await self._edit(self.message_id, preview(text, limit=self._limit))
            except RateLimited as exc:
                await self._pause(min(exc.retry_after, MAX_RATE_LIMIT_WAIT_S))
                continue
            except TransientSendError:
                await self._pause(RECONNECT_WAIT_S)  # e.g. the channel is reconnecting
                continue
            except Exception as exc:
                log.info("streaming preview stopped: %s", exc)
                return
            self.edits += 1
            self._shown = text
            self._last_edit_at = self._clock.monotonic()
