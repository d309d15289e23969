"""Property-based tests of what hostile input reaches first: the WS frame decoder, the config loader
and the HTTP bodies. Examples stay modest (make test must stay fast); ``make fuzz`` runs the long,
schema-driven pass with schemathesis against a real gateway process.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus.common.paths import NexusPaths
from nexus.config import ConfigError, load_config
from nexus.config.schema import NexusConfig
from nexus.gateway.server import serve
from nexus.protocol.frames import FrameError, RequestFrame, parse_frame
from tests.gateway.conftest import ScriptedRouter

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


# -- the WebSocket frame decoder ---------------------------------------------------------------------


@FAST
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_any_bytes_decode_to_a_frame_or_a_frame_error(raw: bytes | str) -> None:
    try:
        frame = parse_frame(raw)
    except FrameError as exc:
        assert str(exc).startswith(("frame is not JSON", "bad request frame"))
    else:
        assert frame.type == "req" and frame.id and frame.method


@FAST
@given(json_values)
def test_any_json_decodes_to_a_frame_or_names_the_bad_field(value: Any) -> None:
    try:
        parse_frame(json.dumps(value))
    except FrameError as exc:
        assert str(exc).startswith("bad request frame: ")


@FAST
@given(
    st.text(min_size=1, max_size=128),
    st.text(min_size=1, max_size=64),
    st.dictionaries(st.text(max_size=10), json_values, max_size=4),
)
def test_well_formed_requests_round_trip(frame_id: str, method: str, params: dict[str, Any]) -> None:
    raw = json.dumps({"type": "req", "id": frame_id, "method": method, "params": params, "extra": 1})
    assert parse_frame(raw) == RequestFrame(type="req", id=frame_id, method=method, params=params)


# -- the config loader -------------------------------------------------------------------------------

SECTIONS = {
    "gateway": ["port", "bind", "max_run_attempts", "tick_interval_s", "metrics_public", "nope"],
    "models": ["primary", "fallbacks", "max_tokens", "turn_timeout_s"],
    "logging": ["format", "level", "max_bytes", "backups"],
    "tracing": ["enabled", "exporter", "endpoint"],
    "supervisor": ["grace_s", "probe_failures"],
}
toml_text = st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=20)
toml_scalars = (
    st.integers(min_value=-(2**40), max_value=2**40).map(str)
    | st.floats(allow_nan=False, allow_infinity=False).map(repr)
    | st.booleans().map(lambda b: "true" if b else "false")
    | toml_text.map(lambda t: json.dumps(t, ensure_ascii=False))
    | st.lists(toml_text.map(lambda t: json.dumps(t, ensure_ascii=False)), max_size=3).map(
        lambda xs: "[" + ", ".join(xs) + "]"
    )
)
tables = st.lists(
    st.sampled_from(sorted(SECTIONS)).flatmap(
        lambda section: st.tuples(
            st.just(section),
            st.lists(
                st.tuples(st.sampled_from(SECTIONS[section]), toml_scalars),
                max_size=4,
                unique_by=lambda kv: kv[0],
            ),
        )
    ),
    max_size=4,
    unique_by=lambda t: t[0],
)


def _load(tmp_path: Path, text: bytes) -> NexusConfig | ConfigError:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "nexus.toml").write_bytes(text)
    try:
        return load_config(NexusPaths(home=home), environ={})
    except ConfigError as exc:
        return exc


@FAST
@given(st.binary(max_size=200))
def test_any_file_loads_or_is_refused_with_a_config_error(tmp_path: Path, raw: bytes) -> None:
    result = _load(tmp_path, raw)
    assert isinstance(result, NexusConfig | ConfigError)
    if isinstance(result, ConfigError):
        assert result.problems and result.exit_code == 78


@FAST
@given(tables)
def test_a_bad_key_or_value_is_named_by_its_key_path(
    tmp_path: Path, spec: list[tuple[str, list[tuple[str, str]]]]
) -> None:
    text = "".join(f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in pairs) for section, pairs in spec)
    result = _load(tmp_path, text.encode())
    if isinstance(result, ConfigError):
        keys = {f"{section}.{k}" for section, pairs in spec for k, _ in pairs} | {s for s, _ in spec}
        for problem in result.problems:
            named = problem.split(":", 1)[0]
            assert named.split(".")[0] in SECTIONS and any(named.startswith(k) for k in keys), problem
    else:
        assert isinstance(result, NexusConfig)


# -- HTTP bodies against a real gateway ---------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, str]]:
    """One real gateway in a thread for the whole module (hypothesis calls the test many times)."""
    paths = NexusPaths(home=tmp_path_factory.mktemp("fuzz-home"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        holder["loop"], holder["stop"] = asyncio.get_running_loop(), asyncio.Event()
        await serve(
            config=NexusConfig(),
            paths=paths,
            router=ScriptedRouter(),
            sock=sock,
            environ={},
            handle_signals=False,
            on_ready=lambda _rt: ready.set(),
            stop=holder["stop"],
        )

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(15), "gateway did not start"
    token = paths.token_file.read_text().strip()
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as c:
        yield c, token
        assert c.get("/healthz").status_code == 200  # still answers after everything
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(15)


def assert_error_shape(response: httpx.Response, *, openai: bool = False) -> None:
    body = response.json()
    assert isinstance(body.get("error"), dict) and isinstance(body["error"].get("message"), str), body
    if not openai:
        assert isinstance(body["error"].get("code"), str)


message_bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "session": st.text(max_size=250) | json_values,
            "text": st.text(max_size=50) | json_values,
            "idempotency_key": st.text(max_size=250) | json_values,
        },
    )
    | json_values
)


@FAST
@given(message_bodies)
def test_any_message_body_is_accepted_or_refused_with_a_reason(
    live: tuple[httpx.Client, str], body: Any
) -> None:
    client, _ = live
    response = client.post("/api/messages", content=json.dumps(body).encode())
    assert response.status_code in (202, 400), response.text
    if response.status_code == 400:
        assert_error_shape(response)
    else:
        assert response.json()["status"] in ("queued", "running", "done")


@FAST
@given(st.binary(max_size=200))
def test_any_bytes_as_a_body_never_break_a_door(live: tuple[httpx.Client, str], raw: bytes) -> None:
    client, _ = live
    for path in ("/api/messages", "/v1/chat/completions"):
        response = client.post(path, content=raw, headers={"content-type": "application/json"})
        assert response.status_code in (202, 200, 400), (path, response.status_code, response.text)
        if response.status_code == 400:
            assert_error_shape(response, openai=path.startswith("/v1"))


@FAST
@given(json_values, st.text(max_size=20))
def test_any_chat_completion_body_is_answered_or_refused(
    live: tuple[httpx.Client, str], messages: Any, user: str
) -> None:
    client, _ = live
    response = client.post("/v1/chat/completions", json={"messages": messages, "user": user})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert_error_shape(response, openai=True)


@FAST
@given(st.text(max_size=40), st.text(max_size=12))
def test_any_run_id_and_wait_are_answered(live: tuple[httpx.Client, str], run_id: str, wait: str) -> None:
    client, _ = live
    response = client.get(f"/api/runs/{quote(run_id, safe='')}", params={"wait": wait[:3]})
    assert response.status_code in (200, 400, 404), response.text
    if response.status_code != 200:
        assert_error_shape(response)
