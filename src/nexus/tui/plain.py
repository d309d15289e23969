"""Plain mode: lines in on stdin, answers out on stdout, status on stderr, a meaningful exit code.

What scripts (and tests) use, so it never hangs: the engine's deadlines end every wait, and the first
failure ends the program with its reason.

Exit codes: 0 every message answered; 1 a run failed (the reason names the fix); 3 the gateway cannot
be used (not running, unauthorized, protocol mismatch); 4 the run deadline passed without an answer
(the run stays in the gateway).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import TextIO, TypeVar

from nexus.client import ChatEngine, ChatState, ClientError, Link, Phase
from nexus.tui.status import link_text, run_text, waiting_for

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNAVAILABLE = 3
EXIT_DEADLINE = 4

T = TypeVar("T")


class StatusPrinter:
    """Prints a status line to ``err`` whenever what the client waits for changes (not every second)."""

    def __init__(self, err: TextIO) -> None:
        self._err = err
        self._last = ""

    def __call__(self, state: ChatState) -> None:
        run = state.current
        what = ""
        if run is not None and not run.finished:
            what = run.checked or waiting_for(run)
        line = link_text(state) + (f" · {what}" if what else "")
        if line != self._last:
            self._last = line
            print(f"· {line}", file=self._err, flush=True)


async def stdin_lines(stream: TextIO | None = None) -> AsyncIterator[str]:
    """Lines of ``stream`` read by a daemon thread, so a silent stdin never blocks the exit."""
    source = stream or sys.stdin
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for line in source:
                loop.call_soon_threadsafe(queue.put_nowait, line)
        finally:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed at exit
                loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


async def run_plain(
    engine: ChatEngine,
    lines: AsyncIterator[str],
    *,
    out: TextIO,
    err: TextIO,
    now: Callable[[], float],
) -> int:
    """Send each non-empty line, print each answer; return the exit code."""
    runner = asyncio.create_task(engine.run(), name="chat-engine")
    try:
        try:
            await _unless_fails(engine.wait_until(lambda s: s.link is Link.CONNECTED), runner)
            async for line in lines:
                text = line.strip()
                if not text:
                    continue
                key = await engine.send(text)
                state = await _unless_fails(engine.wait_until(lambda s, k=key: _finished(s, k)), runner)
                view = state.run(key)
                assert view is not None
                if view.phase is Phase.DONE:
                    print(view.text, file=out, flush=True)
                    continue
                print(f"nexus chat: {run_text(view, now())}", file=err, flush=True)
                if view.error and "\n" in view.error:
                    print(view.error, file=err, flush=True)
                return EXIT_DEADLINE if view.phase is Phase.ABANDONED else EXIT_FAILED
        except ClientError as exc:
            print(f"nexus chat: {exc}", file=err, flush=True)
            return EXIT_UNAVAILABLE
        return EXIT_OK
    finally:
        runner.cancel()
        await asyncio.wait({runner})  # never raises, so a cancellation of this task is not swallowed
        if not runner.cancelled():
            runner.exception()  # retrieved: the error was reported above


def _finished(state: ChatState, key: str) -> bool:
    view = state.run(key)
    return view is None or view.finished


async def _unless_fails(
    waiter: asyncio.Future[T] | asyncio.Task[T] | object, runner: asyncio.Task[None]
) -> T:
    """Await ``waiter``, but raise the engine's error if the engine stops first."""
    task = asyncio.ensure_future(waiter)  # type: ignore[arg-type]
    try:
        await asyncio.wait({task, runner}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        runner.result()  # raises the engine's error
        raise ClientError("the chat engine stopped unexpectedly")
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
