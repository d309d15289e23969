"""A small incremental Server-Sent Events decoder over raw byte chunks.

Why our own: the adapters only need a handful of fields from a few event types, and decoding every
event into SDK models costs more CPU per request than the whole router. Feeding bytes chunks (not
lines) also lets the deadline wrap one await per network read instead of one per line.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SSEEvent:
    event: str | None
    data: str


class SSEDecoder:
    """``feed(chunk)`` returns the events completed by that chunk, in order."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buffer += chunk
        events: list[SSEEvent] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                return events
            raw, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
            line = raw.rstrip(b"\r").decode("utf-8")
            if not line:
                if self._data or self._event is not None:
                    events.append(SSEEvent(self._event, "\n".join(self._data)))
                self._event, self._data = None, []
            elif line.startswith(":"):
                continue  # a comment (keep-alive)
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "event":
                    self._event = value
                elif name == "data":
                    self._data.append(value)

    def flush(self) -> list[SSEEvent]:
        """The last event when the stream ends without its blank line."""
        events = self.feed(b"\n") if self._buffer else []
        if self._data or self._event is not None:
            events.append(SSEEvent(self._event, "\n".join(self._data)))
            self._event, self._data = None, []
        return events
