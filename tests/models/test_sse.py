"""The SSE decoder over arbitrary byte chunks (pure)."""

from __future__ import annotations

import pytest

from nexus.models.providers._sse import SSEDecoder, SSEEvent

STREAM = (
    b'event: message_start\ndata: {"type":"message_start"}\n\n'
    b": keep-alive comment\n\n"
    b'event: content_block_delta\r\ndata: {"text":"h\xc3\xa9"}\r\n\r\n'
    b"data: line one\ndata: line two\n\n"
    b"event: message_stop\ndata: {}\n\n"
)
EXPECTED = [
    SSEEvent("message_start", '{"type":"message_start"}'),
    SSEEvent("content_block_delta", '{"text":"hé"}'),
    SSEEvent(None, "line one\nline two"),
    SSEEvent("message_stop", "{}"),
]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(STREAM)])
def test_any_chunking_gives_the_same_events(size: int) -> None:
    decoder = SSEDecoder()
    events = []
    for i in range(0, len(STREAM), size):
        events.extend(decoder.feed(STREAM[i : i + size]))
    events.extend(decoder.flush())
    assert events == EXPECTED


def test_flush_returns_an_unterminated_last_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: error\ndata: {}") == []
    assert decoder.flush() == [SSEEvent("error", "{}")]
    assert decoder.flush() == []
