"""Property-based fuzz of the HTTP bodies and WS frames against a real gateway process: no 5xx, no
dropped connection, whatever the body."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from tests.gateway_process import GatewayProcess

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=20,
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "system", "tool", 3]), "content": values}
    ),
    max_size=3,
)
message_bodies = st.fixed_dictionaries(
    {}, optional={"session": values, "text": values, "idempotency_key": values}
)
v1_bodies = st.fixed_dictionaries(
    {},
    optional={"messages": messages | values, "user": values, "n": values, "stream": st.just(False) | values},
)
raw_bodies = st.binary(max_size=300) | st.text(max_size=300).map(str.encode)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    # no provider: an accepted message is answered at once with the setup help, so nothing hangs
    home: Path = tmp_path_factory.mktemp("fuzz") / "home"
    with GatewayProcess(home, env={"ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": ""}) as process:
        yield process


@pytest.fixture(scope="module")
def http(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=gw.base_url, headers={"Authorization": f"Bearer {gw.token}"}, timeout=30
    ) as client:
        yield client


def no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert "error" in response.json()


SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(body=message_bodies | values)
def test_api_messages_bodies(http: httpx.Client, body: Any) -> None:
    no_server_error(http.post("/api/messages", content=json.dumps(body)))


@SETTINGS
@given(body=v1_bodies | values)
def test_v1_bodies(http: httpx.Client, body: Any) -> None:
    if isinstance(body, dict):
        body["stream"] = False if not isinstance(body.get("stream"), bool) else body["stream"]
    no_server_error(http.post("/v1/chat/completions", content=json.dumps(body)))


@SETTINGS
@given(raw=raw_bodies, path=st.sampled_from(["/api/messages", "/v1/chat/completions"]))
def test_raw_bytes(http: httpx.Client, raw: bytes, path: str) -> None:
    no_server_error(http.post(path, content=raw))


@SETTINGS
@given(params=values, method=st.sampled_from(["chat.send", "chat.history", "run.get", "chat.abort", "nope"]))
def test_ws_requests(gw: GatewayProcess, params: Any, method: str) -> None:
    with connect(f"ws://127.0.0.1:{gw.port}/ws", open_timeout=5) as ws:
        ws.send(
            json.dumps(
                {"type": "req", "id": "c", "method": "connect", "params": {"protocol": 1, "token": gw.token}}
            )
        )
        assert json.loads(ws.recv(timeout=5))["ok"] is True
        ws.send(json.dumps({"type": "req", "id": "1", "method": method, "params": params}))
        while True:
            frame = json.loads(ws.recv(timeout=10))
            if frame["type"] == "res":
                break
        assert frame["ok"] or frame["error"]["code"] != "internal", frame
        ws.send(json.dumps({"type": "req", "id": "2", "method": "status"}))  # the connection goes on
        while json.loads(reply := ws.recv(timeout=10))["type"] != "res":
            pass
        assert json.loads(reply)["ok"] is True
