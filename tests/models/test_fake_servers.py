"""The fakes speak the real wire formats: checked with plain httpx, byte for byte where it matters,
and with the official SDKs as clients."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from nexus.fakes._server import Disconnect, Error, FakeToolCall, Hang, MidStreamError, Reply, ToolUse
from nexus.fakes.anthropic_server import FakeAnthropic
from nexus.fakes.openai_server import FakeOpenAI

A_HEADERS = {"x-api-key": "sk-ant-api03-test", "anthropic-version": "2023-06-01"}
BODY = {"model": "claude-x", "max_tokens": 16, "messages": [{"role": "user", "content": "hello there"}]}


def _sse_events(text: str) -> list[tuple[str | None, dict | str]]:
    events = []
    for block in text.strip().split("\n\n"):
        name, data = None, ""
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        events.append((name, data if data == "[DONE]" else json.loads(data)))
    return events


def test_anthropic_non_stream_echoes_last_user_text(fake_anthropic: FakeAnthropic) -> None:
    r = httpx.post(f"{fake_anthropic.base_url}/v1/messages", json=BODY, headers=A_HEADERS)
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "message" and body["role"] == "assistant" and body["model"] == "claude-x"
    assert body["content"] == [{"type": "text", "text": "echo: hello there"}]
    assert body["stop_reason"] == "end_turn"
    assert fake_anthropic.count("claude-x") == 1 and fake_anthropic.count("other") == 0
    recorded = fake_anthropic.requests[0]
    assert recorded.path == "/v1/messages" and recorded.headers["x-api-key"] == "sk-ant-api03-test"
    assert recorded.body == BODY and recorded.stream is False


def test_anthropic_stream_has_the_real_event_sequence(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script("claude-x", Reply("abcdef", chunks=3))
    r = httpx.post(f"{fake_anthropic.base_url}/v1/messages", json={**BODY, "stream": True}, headers=A_HEADERS)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = _sse_events(r.text)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    for name, data in events:
        assert isinstance(data, dict) and data["type"] == name
    deltas = [d["delta"]["text"] for n, d in events if n == "content_block_delta"]  # type: ignore[index]
    assert "".join(deltas) == "abcdef"
    assert events[7][1]["delta"]["stop_reason"] == "end_turn"  # type: ignore[index]


@pytest.mark.parametrize(
    ("error", "status", "error_type", "retry_after"),
    [
        (Error(429, retry_after=1), 429, "rate_limit_error", "1"),
        (Error(529), 529, "overloaded_error", None),
        (Error(401), 401, "authentication_error", None),
        (Error(403), 403, "permission_error", None),
        (Error(404), 404, "not_found_error", None),
        (Error.prompt_too_long(), 400, "invalid_request_error", None),
        (Error.spend_cap(), 429, "rate_limit_error", None),
        (Error(500), 500, "api_error", None),
    ],
)
def test_anthropic_error_bodies(
    fake_anthropic: FakeAnthropic, error: Error, status: int, error_type: str, retry_after: str | None
) -> None:
    fake_anthropic.script(None, error)
    r = httpx.post(f"{fake_anthropic.base_url}/v1/messages", json=BODY, headers=A_HEADERS)
    assert r.status_code == status
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type and body["error"]["message"]
    assert body["request_id"].startswith("req_")
    assert r.headers.get("retry-after") == retry_after


def test_anthropic_scripts_are_per_model_then_any_then_persistent(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script("a", Error(529))
    fake_anthropic.script(None, Error(500))
    fake_anthropic.always("a", Error(403))

    def status(model: str) -> int:
        return httpx.post(
            f"{fake_anthropic.base_url}/v1/messages", json={**BODY, "model": model}, headers=A_HEADERS
        ).status_code

    assert [status("a"), status("a"), status("a"), status("b")] == [529, 500, 403, 200]
    fake_anthropic.always("a", None)
    assert status("a") == 200


def test_anthropic_auth_checks(fake_anthropic: FakeAnthropic) -> None:
    url = f"{fake_anthropic.base_url}/v1/messages"
    no_auth = httpx.post(url, json=BODY, headers={"anthropic-version": "2023-06-01"})
    assert no_auth.status_code == 401 and no_auth.json()["error"]["type"] == "authentication_error"
    oauth = {"authorization": "Bearer sk-ant-oat01-live", "anthropic-version": "2023-06-01"}
    assert httpx.post(url, json=BODY, headers=oauth).status_code == 401  # OAuth without its beta header
    ok = httpx.post(url, json=BODY, headers={**oauth, "anthropic-beta": "oauth-2025-04-20"})
    assert ok.status_code == 200
    fake_anthropic.accept_token = lambda h: h.get("authorization") == "Bearer sk-ant-oat01-live"
    dead = {**oauth, "authorization": "Bearer sk-ant-oat01-dead", "anthropic-beta": "oauth-2025-04-20"}
    assert httpx.post(url, json=BODY, headers=dead).status_code == 401
    assert (
        httpx.post(url, json=BODY, headers={**oauth, "anthropic-beta": "oauth-2025-04-20"}).status_code == 200
    )


def test_anthropic_validates_like_the_real_api() -> None:
    with FakeAnthropic(known_models={"claude-x"}) as fake:
        url = f"{fake.base_url}/v1/messages"
        missing = httpx.post(url, json={"model": "claude-x", "messages": BODY["messages"]}, headers=A_HEADERS)
        assert missing.status_code == 400 and "max_tokens" in missing.json()["error"]["message"]
        unknown = httpx.post(url, json={**BODY, "model": "claude-nope"}, headers=A_HEADERS)
        assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"
        models = httpx.get(f"{fake.base_url}/v1/models", headers=A_HEADERS).json()
        assert [m["id"] for m in models["data"]] == ["claude-x"]


def test_anthropic_mid_stream_error_event(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(None, MidStreamError(after_chunks=2, error_type="overloaded_error"))
    r = httpx.post(f"{fake_anthropic.base_url}/v1/messages", json={**BODY, "stream": True}, headers=A_HEADERS)
    assert r.status_code == 200
    events = _sse_events(r.text)
    assert [n for n, _ in events].count("content_block_delta") == 2
    assert events[-1] == ("error", {**events[-1][1], "type": "error"})  # type: ignore[dict-item]
    assert events[-1][1]["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_hang_is_bounded_by_the_client_and_latency_applies(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(None, Hang())
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{fake_anthropic.base_url}/v1/messages", json=BODY, headers=A_HEADERS, timeout=0.3)
    assert time.monotonic() - started < 2
    fake_anthropic.latency = 0.2
    started = time.monotonic()
    assert (
        httpx.post(f"{fake_anthropic.base_url}/v1/messages", json=BODY, headers=A_HEADERS).status_code == 200
    )
    assert time.monotonic() - started >= 0.2


def test_hang_after_preamble_holds_the_first_delta(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(None, Hang(seconds=0.3, after_chunks=0))
    started = time.monotonic()
    seen: dict[str, float] = {}
    with httpx.stream(
        "POST", f"{fake_anthropic.base_url}/v1/messages", json={**BODY, "stream": True}, headers=A_HEADERS
    ) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("event: "):
                seen.setdefault(line[7:], time.monotonic() - started)
    assert seen["ping"] < 0.25  # the preamble comes at once...
    assert seen["content_block_delta"] >= 0.3  # ...the first token only after the hang
    assert "message_stop" in seen


def test_disconnect_mid_stream_breaks_the_connection(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(None, Disconnect(after_chunks=1))
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{fake_anthropic.base_url}/v1/messages", json={**BODY, "stream": True}, headers=A_HEADERS)


O_HEADERS = {"authorization": "Bearer sk-test"}
O_BODY = {"model": "gpt-x", "messages": [{"role": "user", "content": "hi you"}]}


def test_openai_non_stream_and_stream(fake_openai: FakeOpenAI) -> None:
    assert fake_openai.base_url.endswith("/v1")
    r = httpx.post(f"{fake_openai.base_url}/chat/completions", json=O_BODY, headers=O_HEADERS)
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "echo: hi you", "refusal": None}
    assert body["choices"][0]["finish_reason"] == "stop"
    r = httpx.post(
        f"{fake_openai.base_url}/chat/completions",
        json={**O_BODY, "stream": True, "stream_options": {"include_usage": True}},
        headers=O_HEADERS,
    )
    events = _sse_events(r.text)
    assert events[-1] == (None, "[DONE]")
    chunks = [d for _, d in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)  # type: ignore[index]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])  # type: ignore[index]
    assert text == "echo: hi you"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0  # type: ignore[index]
    assert fake_openai.count("gpt-x") == 2


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (Error(429, retry_after=2), 429, "rate_limit_exceeded"),
        (Error(401), 401, "invalid_api_key"),
        (Error(404), 404, "model_not_found"),
        (Error.prompt_too_long(), 400, "context_length_exceeded"),
        (
            Error(429, "insufficient_quota", "You exceeded your current quota", code="insufficient_quota"),
            429,
            "insufficient_quota",
        ),
        (Error(500), 500, None),
    ],
)
def test_openai_error_bodies(fake_openai: FakeOpenAI, error: Error, status: int, code: str | None) -> None:
    fake_openai.script(None, error)
    r = httpx.post(f"{fake_openai.base_url}/chat/completions", json=O_BODY, headers=O_HEADERS)
    assert r.status_code == status
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    assert r.json()["error"]["code"] == code
    if error.retry_after:
        assert r.headers["retry-after"] == "2"


def test_openai_mid_stream_error_and_auth(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(None, MidStreamError(after_chunks=1, error_type="server_error", message="boom"))
    r = httpx.post(
        f"{fake_openai.base_url}/chat/completions", json={**O_BODY, "stream": True}, headers=O_HEADERS
    )
    last = _sse_events(r.text)[-1][1]
    assert last == {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
    assert httpx.post(f"{fake_openai.base_url}/chat/completions", json=O_BODY).status_code == 401
    models = httpx.get(f"{fake_openai.base_url}/models", headers=O_HEADERS)
    assert models.json()["object"] == "list"


def test_openai_keyless_mode() -> None:
    with FakeOpenAI(require_key=False) as fake:
        assert httpx.post(f"{fake.base_url}/chat/completions", json=O_BODY).status_code == 200


def test_fake_runs_as_its_own_process_and_is_scriptable_over_http() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus.fakes.anthropic_server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded by the test timeout; the fake prints once listening
        assert line.startswith("listening http://127.0.0.1:")
        base = line.split()[1]
        r = httpx.post(
            f"{base}/_fake/script",
            json={"model": "claude-x", "behaviours": [{"kind": "error", "status": 429, "retry_after": 1}]},
        )
        assert r.json() == {"ok": True}
        assert httpx.post(f"{base}/v1/messages", json=BODY, headers=A_HEADERS).status_code == 429
        assert httpx.post(f"{base}/v1/messages", json=BODY, headers=A_HEADERS).status_code == 200
        assert httpx.get(f"{base}/_fake/requests").json() == {"count": 2, "by_model": {"claude-x": 2}}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
    assert proc.returncode == 0


# ---- the official SDKs as conformance checkers: if they parse what the fakes send, so would the
# ---- real APIs' clients; the gateway itself never imports them (issue 16)

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


async def test_anthropic_sdk_streams_text_and_a_tool_call_from_the_fake(
    fake_anthropic: FakeAnthropic,
) -> None:
    import anthropic

    client = anthropic.AsyncAnthropic(
        api_key="sk-ant-api03-test", base_url=fake_anthropic.base_url, max_retries=0
    )
    try:
        fake_anthropic.script("claude-x", Reply("abc def", chunks=2))
        async with client.messages.stream(
            model="claude-x", max_tokens=16, messages=[{"role": "user", "content": "q"}]
        ) as s:
            text = "".join([t async for t in s.text_stream])
            final = await s.get_final_message()
        assert text == "abc def" and final.stop_reason == "end_turn" and final.usage.output_tokens == 2

        call = FakeToolCall("get_weather", {"city": "Paris", "days": [1, 2]}, id="toolu_1")
        fake_anthropic.script("claude-x", ToolUse((call,), text="Let me look.", fragments=4))
        async with client.messages.stream(
            model="claude-x",
            max_tokens=64,
            tools=[WEATHER],
            messages=[{"role": "user", "content": "weather?"}],
        ) as s:
            final = await s.get_final_message()
        assert final.stop_reason == "tool_use"
        assert [b.type for b in final.content] == ["text", "tool_use"]
        block = final.content[1]
        assert (block.id, block.name, block.input) == (
            "toolu_1",
            "get_weather",
            {"city": "Paris", "days": [1, 2]},
        )

        # the SDK's own encoding of a tool result is accepted, and the echo shows the result
        answer = await client.messages.create(
            model="claude-x",
            max_tokens=16,
            tools=[WEATHER],
            messages=[
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": final.content},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}],
                },
            ],
        )
        assert answer.content[0].text == "echo: sunny"  # type: ignore[union-attr]
        with pytest.raises(anthropic.BadRequestError, match="tool_use_id"):
            await client.messages.create(
                model="claude-x",
                max_tokens=16,
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "nope", "content": "x"}],
                    }
                ],
            )
        fake_anthropic.script("claude-x", Error(429, retry_after=3))
        with pytest.raises(anthropic.RateLimitError) as limited:
            await client.messages.create(
                model="claude-x", max_tokens=16, messages=[{"role": "user", "content": "q"}]
            )
        assert limited.value.response.headers["retry-after"] == "3"
    finally:
        await client.close()


async def test_anthropic_sdk_oauth_token_needs_the_beta_header(fake_anthropic: FakeAnthropic) -> None:
    import anthropic

    token = "sk-ant-oat01-test"
    bare = anthropic.AsyncAnthropic(auth_token=token, base_url=fake_anthropic.base_url, max_retries=0)
    beta = anthropic.AsyncAnthropic(
        auth_token=token,
        base_url=fake_anthropic.base_url,
        max_retries=0,
        default_headers={"anthropic-beta": "oauth-2025-04-20"},
    )
    try:
        with pytest.raises(anthropic.AuthenticationError):
            await bare.messages.create(model="m", max_tokens=4, messages=[{"role": "user", "content": "q"}])
        ok = await beta.messages.create(model="m", max_tokens=4, messages=[{"role": "user", "content": "q"}])
        assert ok.content[0].text == "echo: q"  # type: ignore[union-attr]
    finally:
        await bare.close()
        await beta.close()
    sent = fake_anthropic.requests[-1].headers
    assert sent["authorization"] == f"Bearer {token}" and "x-api-key" not in sent


async def test_openai_sdk_streams_text_and_tool_calls_from_the_fake(fake_openai: FakeOpenAI) -> None:
    import openai

    client = openai.AsyncOpenAI(api_key="sk-test", base_url=fake_openai.base_url, max_retries=0)
    tool = {"type": "function", "function": {"name": WEATHER["name"], "parameters": WEATHER["input_schema"]}}
    try:
        calls = (
            FakeToolCall("get_weather", {"city": "Oslo"}, id="call_1"),
            FakeToolCall("get_weather", {"city": "Rome"}, id="call_2"),
        )
        fake_openai.script("gpt-x", ToolUse(calls, fragments=3))
        async with client.chat.completions.stream(
            model="gpt-x",
            tools=[tool],
            messages=[{"role": "user", "content": "weather?"}],  # type: ignore[list-item]
        ) as s:
            final = await s.get_final_completion()
        choice = final.choices[0]
        assert choice.finish_reason == "tool_calls"
        got = [
            (c.id, c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls or ()
        ]  # type: ignore[union-attr]
        assert got == [
            ("call_1", "get_weather", {"city": "Oslo"}),
            ("call_2", "get_weather", {"city": "Rome"}),
        ]

        answer = await client.chat.completions.create(
            model="gpt-x",
            tools=[tool],  # type: ignore[list-item]
            messages=[
                {"role": "user", "content": "weather?"},
                choice.message.model_dump(exclude_none=True),  # type: ignore[list-item]
                {"role": "tool", "tool_call_id": "call_1", "content": "snow"},
                {"role": "tool", "tool_call_id": "call_2", "content": "sun"},
            ],
        )
        assert answer.choices[0].message.content == "echo: sun"
        with pytest.raises(openai.BadRequestError, match="role 'tool'"):
            await client.chat.completions.create(
                model="gpt-x", messages=[{"role": "tool", "tool_call_id": "x", "content": "y"}]
            )
        stream = await client.chat.completions.create(
            model="gpt-x",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hi"
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    finally:
        await client.close()
