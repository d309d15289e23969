"""Hostile and malformed input from outside, against the real gateway on a real socket: every case gets
the documented error shape and a 4xx (or a WS error reply), and the connection goes on where it can."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
import openai
import pytest
from websockets.asyncio.client import connect

from nexus.protocol.messages import MAX_JSON_DEPTH, MAX_KEY_CHARS, MAX_SESSION_CHARS, MAX_TEXT_CHARS
from tests.gateway.conftest import RunningGateway

DEEP = "[" * 5000 + "]" * 5000
JUST_TOO_DEEP = json.dumps(
    {"session": "s", "text": "x", "extra": json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)}
)
LONE_SURROGATE_BODY = '{"messages": [{"role": "user", "content": "bad \\ud800 text"}]}'


def api_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["message"])


def openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert {"message", "type", "param", "code"} <= set(error), error
    return error


async def ws_connected(gateway: RunningGateway) -> Any:
    ws = await connect(gateway.ws_url, open_timeout=5)
    await ws.send(
        json.dumps(
            {"type": "req", "id": "c", "method": "connect", "params": {"protocol": 1, "token": gateway.token}}
        )
    )
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["ok"] is True
    return ws


async def ws_reply(ws: Any, raw: str | bytes) -> dict[str, Any]:
    await ws.send(raw)
    async with asyncio.timeout(5):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "res":
                return frame


# -- nesting, encoding, numbers -------------------------------------------------------------------


@pytest.mark.parametrize("body", [DEEP, JUST_TOO_DEEP, '{"session": "s", "text": "\\ud800"}', b"\xff\xfe{}"])
async def test_api_messages_refuses_what_used_to_500(gateway: RunningGateway, body: str | bytes) -> None:
    async with gateway.client() as client:
        message = api_error(await client.post("/api/messages", content=body), 400)
        assert any(word in message for word in ("nested", "surrogate", "not JSON")), message
        assert (await client.get("/healthz")).status_code == 200


async def test_v1_deep_json_and_lone_surrogate_are_openai_shaped_400s(gateway: RunningGateway) -> None:
    async with gateway.client() as client:
        assert (
            "nested" in openai_error(await client.post("/v1/chat/completions", content=DEEP), 400)["message"]
        )
        for stream in (False, True):
            body = json.loads(LONE_SURROGATE_BODY) | {"stream": stream}
            raw = json.dumps(body)  # ensure_ascii keeps the lone surrogate as the escape \ud800
            error = openai_error(await client.post("/v1/chat/completions", content=raw), 400)
            assert "surrogate" in error["message"] and error["param"] == "messages[-1].content"
    assert gateway.router.calls == []  # nothing was committed or sent to a model


async def test_v1_stream_failure_after_start_ends_with_an_error_chunk_and_done(
    gateway: RunningGateway,
) -> None:
    gateway.router.script.append(RuntimeError("provider exploded"))
    async with (
        gateway.client() as client,
        client.stream(
            "POST",
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "hi"}], "stream": True},
        ) as response,
    ):
        assert response.status_code == 200
        lines = [line async for line in response.aiter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert "error" in json.loads(lines[-2][6:])


@pytest.mark.parametrize("wait", ["nan", "inf", "-inf", "-1", "soon", "1e999"])
async def test_bad_wait_is_a_400_and_the_keep_alive_connection_goes_on(
    gateway: RunningGateway, wait: str
) -> None:
    host, port = gateway.base_url.removeprefix("http://").split(":")

    def exchange() -> list[bytes]:
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            auth = f"Authorization: Bearer {gateway.token}\r\n"
            request = f"GET /api/runs/run_x?wait={wait} HTTP/1.1\r\nHost: x\r\n{auth}\r\n"
            sock.sendall(request.encode())
            first = _read_response(sock)
            sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode())
            return [first, _read_response(sock)]

    first, second = await asyncio.to_thread(exchange)
    assert first.startswith(b"HTTP/1.1 400") and b'"bad_request"' in first and b"wait" in first
    assert second.startswith(b"HTTP/1.1 200")


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


# -- WebSocket ------------------------------------------------------------------------------------


async def test_ws_binary_and_deep_frames_get_error_replies_and_the_connection_goes_on(
    gateway: RunningGateway,
) -> None:
    ws = await ws_connected(gateway)
    try:
        binary = await ws_reply(ws, b'{"type": "req", "id": "1", "method": "status"}')
        assert binary["ok"] is False and binary["error"]["code"] == "bad_frame"
        assert "text frame" in binary["error"]["message"]
        deep = await ws_reply(ws, DEEP)
        assert deep["ok"] is False and "nested" in deep["error"]["message"]
        surrogate = await ws_reply(
            ws,
            '{"type": "req", "id": "3", "method": "chat.send", "params": {"session": "s", "text": "\\udfff"}}',
        )
        assert surrogate["error"]["code"] == "bad_request" and "params.text" in surrogate["error"]["message"]
        ok = await ws_reply(ws, json.dumps({"type": "req", "id": "4", "method": "status"}))
        assert ok["ok"] is True
    finally:
        await ws.close()


async def test_ws_binary_connect_frame_is_closed_with_a_code(gateway: RunningGateway) -> None:
    async with connect(gateway.ws_url, open_timeout=5) as ws:
        await ws.send(b"\x00\x01")
        with pytest.raises(Exception) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert getattr(closed.value, "rcvd", None) is not None and closed.value.rcvd.code == 4000  # type: ignore[attr-defined]


# -- one validator, one set of limits, three doors -------------------------------------------------

CASES = {
    "whitespace-only text": ("s", " \n\t ", None, "only whitespace"),
    "text too long": ("s", "x" * (MAX_TEXT_CHARS + 1), None, f"limit is {MAX_TEXT_CHARS}"),
    "session too long": ("s" * (MAX_SESSION_CHARS + 1), "hi", None, f"limit is {MAX_SESSION_CHARS}"),
    "key too long": ("s", "hi", "k" * (MAX_KEY_CHARS + 1), f"limit is {MAX_KEY_CHARS}"),
    "session not a string": (5, "hi", None, "must be a string"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
async def test_every_door_refuses_the_same_message_the_same_way(gateway: RunningGateway, case: str) -> None:
    session, text, key, why = CASES[case]
    async with gateway.client() as client:
        http_body: dict[str, Any] = {"session": session, "text": text}
        if key is not None:
            http_body["idempotency_key"] = key
        assert why in api_error(await client.post("/api/messages", json=http_body), 400)

        v1_body: dict[str, Any] = {"messages": [{"role": "user", "content": text}], "user": session}
        headers = {"Idempotency-Key": key} if key is not None else {}
        assert (
            why
            in openai_error(await client.post("/v1/chat/completions", json=v1_body, headers=headers), 400)[
                "message"
            ]
        )
    ws = await ws_connected(gateway)
    try:
        params: dict[str, Any] = {"session": session, "text": text}
        if key is not None:
            params["idempotency_key"] = key
        reply = await ws_reply(
            ws, json.dumps({"type": "req", "id": "1", "method": "chat.send", "params": params})
        )
        assert reply["error"]["code"] == "bad_request" and why in reply["error"]["message"]
    finally:
        await ws.close()
    assert gateway.router.calls == []


async def test_the_limits_themselves_are_accepted(gateway: RunningGateway) -> None:
    async with gateway.client() as client:
        body = {
            "session": "s" * MAX_SESSION_CHARS,
            "text": "x" * MAX_TEXT_CHARS,
            "idempotency_key": "k" * MAX_KEY_CHARS,
        }
        assert (await client.post("/api/messages", json=body)).status_code == 202


async def test_oversized_body_is_413(gateway: RunningGateway) -> None:
    async with gateway.client() as client:
        response = await client.post("/api/messages", content=b" " * (8 * 1024 * 1024 + 1))
        assert "limit" in api_error(response, 413)


# -- the OpenAI-compatible endpoint, with the real SDK ---------------------------------------------


def sdk(gateway: RunningGateway) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=gateway.token, max_retries=0)


async def test_v1_refuses_what_it_does_not_do_with_a_clear_400(gateway: RunningGateway) -> None:
    async with sdk(gateway) as client:
        await _refusals(client, gateway)


async def _refusals(client: openai.AsyncOpenAI, gateway: RunningGateway) -> None:
    user = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.BadRequestError, match="only n=1"):
        await client.chat.completions.create(model="nexus", messages=user, n=2)  # type: ignore[arg-type]
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    for choice in ["none", "required", {"type": "function", "function": {"name": "f"}}]:
        with pytest.raises(openai.BadRequestError, match="only tool_choice 'auto'"):
            await client.chat.completions.create(
                model="nexus",
                messages=user,  # type: ignore[arg-type]
                tools=[tool],  # type: ignore[list-item]
                tool_choice=choice,  # type: ignore[arg-type]
            )
    with pytest.raises(openai.BadRequestError, match="legacy function-calling API"):
        await client.chat.completions.create(
            model="nexus",
            messages=user,  # type: ignore[arg-type]
            functions=[{"name": "f", "parameters": {"type": "object"}}],
        )
    with pytest.raises(openai.BadRequestError, match="need the 'tools' they were made with"):
        await client.chat.completions.create(
            model="nexus",
            messages=[*user, {"role": "tool", "tool_call_id": "c1", "content": "42"}],  # type: ignore[list-item]
        )
    with pytest.raises(openai.BadRequestError, match=r"tools\[0\]\.function\.name"):
        await client.chat.completions.create(
            model="nexus",
            messages=user,  # type: ignore[arg-type]
            tools=[{"type": "function", "function": {"name": ""}}],  # type: ignore[list-item]
        )
    with pytest.raises(openai.BadRequestError, match="must name the tool call"):
        await client.chat.completions.create(
            model="nexus",
            messages=[*user, {"role": "tool", "content": "42"}],  # type: ignore[list-item]
            tools=[tool],  # type: ignore[list-item]
        )
    assert gateway.router.calls == []


async def test_v1_stream_names_one_model_and_sends_the_usage_chunk(gateway: RunningGateway) -> None:
    async with sdk(gateway) as client:
        stream = await client.chat.completions.create(
            model="nexus",
            messages=[{"role": "user", "content": "hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert {c.model for c in chunks} == {"test/echo"}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hello"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


async def test_v1_models_by_id_and_unknown_routes_are_openai_shaped(gateway: RunningGateway) -> None:
    async with sdk(gateway) as client:
        model = await client.models.retrieve("nexus")
        assert model.id == "nexus"
        with pytest.raises(openai.NotFoundError):
            await client.models.retrieve("gpt-9")
    async with gateway.client() as http:
        assert openai_error(await http.get("/v1/embeddingz"), 404)["code"] == "unknown_url"
        assert "no route" in api_error(await http.get("/api/nothing"), 404)
        assert api_error(await http.delete("/api/messages"), 405)


async def test_a_500_is_in_the_documented_shape_at_every_door(gateway: RunningGateway) -> None:
    """A real fault (the state database closed under the gateway): JSON errors, never a plain-text 500."""
    gateway.runtime.store.close()
    async with gateway.client() as client:
        api = await client.post("/api/messages", json={"session": "s", "text": "hi"})
        v1 = await client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert api.status_code == 500 and api.json()["error"]["code"] == "internal"
    error = openai_error(v1, 500)
    assert error["type"] == "server_error" and "the log has the details" in error["message"]
