"""The streaming preview: one message, edited no faster than the interval, surviving a reconnect."""

from __future__ import annotations

import asyncio
import time

from nexus.channels.errors import PermanentSendError, TransientSendError
from nexus.channels.streaming import StreamPump
from tests.channels.conftest import until


class Chat:
    """A recording chat: the pump's two I/O callbacks, with scripted failures."""

    def __init__(self, *, send_failures: list[Exception] | None = None) -> None:
        self.sent: list[str] = []
        self.edits: list[tuple[float, str]] = []
        self.send_failures = list(send_failures or [])

    async def send(self, text: str) -> str:
        if self.send_failures:
            raise self.send_failures.pop(0)
        self.sent.append(text)
        return "m1"

    async def edit(self, message_id: str, text: str) -> None:
        assert message_id == "m1"
        self.edits.append((time.monotonic(), text))


async def test_edits_are_throttled_and_show_the_latest_text() -> None:
    chat = Chat()
    pump = StreamPump(send=chat.send, edit=chat.edit, min_interval_s=0.1, limit=4096)
    pump.start("test")
    started = time.monotonic()
    for i in range(60):
        pump.feed(f"{i} ")
        await asyncio.sleep(0.01)
    expected = "".join(f"{i} " for i in range(60))
    await until(lambda: chat.edits and chat.edits[-1][1] == expected, what="the last text shown")
    elapsed = time.monotonic() - started
    assert len(chat.sent) == 1
    assert len(chat.edits) <= elapsed / 0.1 + 1, "never faster than one edit per interval"
    gaps = [b[0] - a[0] for a, b in zip(chat.edits, chat.edits[1:], strict=False)]
    assert all(gap >= 0.095 for gap in gaps)
    pump.close()
    await asyncio.wait_for(pump.task, 2)  # type: ignore[arg-type]
    assert not pump.busy


async def test_a_reconnecting_channel_delays_the_preview_and_a_permanent_error_ends_it() -> None:
    chat = Chat(send_failures=[TransientSendError("not connected")])
    pump = StreamPump(send=chat.send, edit=chat.edit, min_interval_s=0.0, limit=4096)
    pump.start("test")
    pump.feed("hello")
    await until(lambda: chat.sent == ["hello"], what="the preview after the reconnect")
    pump.close()
    await asyncio.wait_for(pump.task, 2)  # type: ignore[arg-type]

    refused = Chat(send_failures=[PermanentSendError("bot was blocked")])
    pump = StreamPump(send=refused.send, edit=refused.edit, min_interval_s=0.0, limit=4096)
    pump.start("test")
    pump.feed("hello")
    await asyncio.wait_for(pump.task, 2)  # type: ignore[arg-type]
    assert refused.sent == [] and not pump.busy


async def test_a_fallback_reset_restarts_the_preview_text() -> None:
    chat = Chat()
    pump = StreamPump(send=chat.send, edit=chat.edit, min_interval_s=0.0, limit=4096, message_id="m1")
    pump.start("test")
    pump.feed("first model's half answer")
    await until(lambda: chat.edits, what="first edit")
    pump.reset()
    pump.feed("second")
    await until(lambda: chat.edits[-1][1] == "second", what="the restarted text")
    assert chat.sent == [], "an existing placeholder (e.g. from before a restart) is edited, not re-sent"
    pump.close()
    await asyncio.wait_for(pump.task, 2)  # type: ignore[arg-type]
