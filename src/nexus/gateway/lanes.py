"""One lane per session: messages of a session are answered in order, sessions run concurrently.

A lane's worker exists only while its session has work, so idle sessions cost nothing. A failure in
one run never blocks the lane: ``execute`` is expected to finish every run it is given, and the lane
guards that expectation anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Lanes:
    def __init__(self, execute: Callable[[str], Awaitable[None]], *, max_concurrent: int = 64) -> None:
        self._execute = execute
        self._queues: dict[str, deque[str]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(max_concurrent)
        self._closed = False

    def submit(self, session: str, run_id: str) -> None:
        if self._closed:
            return
        queue = self._queues.setdefault(session, deque())
        queue.append(run_id)
        if session not in self._workers:
            self._workers[session] = asyncio.create_task(self._work(session), name=f"lane:{session}")

    async def _work(self, session: str) -> None:
        queue = self._queues[session]
        try:
            while queue:
                run_id = queue[0]
                async with self._slots:
                    try:
                        await self._execute(run_id)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("run %s escaped its runner; the lane continues", run_id)
                queue.popleft()
        finally:
            self._workers.pop(session, None)
            if not queue:
                self._queues.pop(session, None)

    async def close(self) -> None:
        """Stop all lanes; runs in flight stay in the store and resume on the next start."""
        self._closed = True
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
