"""Well-formed request frames survive the decoder unchanged (the error side is fuzzed in test_fuzz.py)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from nexus.protocol.frames import RequestFrame, parse_frame

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(
    st.text(min_size=1, max_size=128),
    st.text(min_size=1, max_size=64),
    st.dictionaries(st.text(max_size=10), json_values, max_size=4),
)
def test_well_formed_requests_round_trip(frame_id: str, method: str, params: dict[str, Any]) -> None:
    raw = json.dumps({"type": "req", "id": frame_id, "method": method, "params": params, "extra": 1})
    assert parse_frame(raw) == RequestFrame(type="req", id=frame_id, method=method, params=params)
