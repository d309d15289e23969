"""The last message id seen per Discord chat, kept on disk so a backfill also covers a restart.

Discord keeps nothing for a bot without a session: whatever is said while the gateway is down (or
between a lost session and the next READY) is only in the channel's history. After every new
session the adapter asks ``GET /channels/{id}/messages?after=<cursor>`` for each known chat.

The file sits next to the bot's poller lock (one gateway per token per host owns both), is written
atomically (0600) soon after each committed message, by one writer in a worker thread (an fsync on
the event loop would delay every answer), and is a hint: a lost or damaged
file only means no backfill, never a wrong answer (the message id keys the run, so a message seen
twice is still answered once).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from nexus.common.atomic import atomic_write_text


class Cursors:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._data: dict[str, tuple[str, bool]] = {}
        self._dirty = False
        if path is not None:
            with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
                raw = json.loads(path.read_text())
                self._data = {str(k): (str(v[0]), bool(v[1])) for k, v in raw.get("chats", {}).items()}

    def items(self) -> list[tuple[str, tuple[str, bool]]]:
        return list(self._data.items())

    def seen(self, chat_id: str, message_id: str, *, is_dm: bool) -> None:
        last = self._data.get(chat_id)
        if last is None or int(message_id) > int(last[0]):
            self._data[chat_id] = (message_id, is_dm)
            self._dirty = True

    def snapshot(self) -> str | None:
        """The file's new content if anything changed since the last snapshot, else None."""
        if not self._dirty or self.path is None:
            return None
        self._dirty = False
        return json.dumps({"version": 1, "chats": {k: list(v) for k, v in self._data.items()}}) + "\n"

    def write(self, text: str) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                atomic_write_text(self.path, text, mode=0o600)

    def flush(self) -> None:
        text = self.snapshot()
        if text is not None:
            self.write(text)
