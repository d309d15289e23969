"""Property-based fuzz of the frame decoder and the message validator: any input ends in a value or in
the one documented error type, never in another exception (which the gateway would turn into a 500 or
a dropped socket)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from nexus.protocol.frames import FrameError, RequestFrame, parse_frame
from nexus.protocol.messages import WS_FIELDS, BadJSON, InvalidInput, Message, parse_json, validate_message

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text()
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)
frames = st.fixed_dictionaries(
    {"type": st.sampled_from(["req", "res", "event", 5]), "id": scalars, "method": scalars},
    optional={"params": json_values},
)


@settings(max_examples=300, deadline=None)
@given(st.text() | st.binary())
def test_any_text_or_bytes_decode_to_a_frame_or_a_frame_error(raw: str | bytes) -> None:
    with contextlib.suppress(FrameError):
        assert isinstance(parse_frame(raw), RequestFrame)


@settings(max_examples=300, deadline=None)
@given(frames, st.integers(min_value=0, max_value=200))
def test_frame_like_json_at_any_depth(frame: dict[str, Any], depth: int) -> None:
    raw = json.dumps(frame)
    nested = "[" * depth + raw + "]" * depth
    for candidate in (raw, nested):
        with contextlib.suppress(FrameError):
            parse_frame(candidate)


@settings(max_examples=300, deadline=None)
@given(scalars | json_values, scalars | json_values, st.none() | scalars)
def test_the_validator_accepts_or_names_a_field(session: Any, text: Any, key: Any) -> None:
    try:
        message = validate_message(session=session, text=text, idempotency_key=key, fields=WS_FIELDS)
    except InvalidInput as exc:
        assert exc.field in (WS_FIELDS.session, WS_FIELDS.text, WS_FIELDS.idempotency_key)
    else:
        assert isinstance(message, Message)
        message.text.encode("utf-8")  # what passes can be stored and sent as UTF-8


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_parse_json_raises_only_bad_json(raw: bytes) -> None:
    with contextlib.suppress(BadJSON):
        parse_json(raw)
