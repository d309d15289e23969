"""The two adapters against the fakes: wire details the router does not look at."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from nexus.auth.credentials import Credential, CredentialKind
from nexus.common.secret import Secret
from nexus.fakes._server import Disconnect, Error, FakeToolCall, Reply, ToolUse
from nexus.fakes.anthropic_server import FakeAnthropic
from nexus.fakes.openai_server import FakeOpenAI
from nexus.models.errors import AuthFailed, ConnectionFailed
from nexus.models.providers._common import StreamTimeouts, shared_client
from nexus.models.providers.anthropic import API_VERSION, AnthropicProvider
from nexus.models.providers.openai_compat import OpenAICompatProvider
from nexus.models.types import (
    ChatMessage,
    ModelRequest,
    StreamEnd,
    StreamItem,
    TextBlock,
    TextDelta,
    ToolCall,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
)

TIMEOUTS = StreamTimeouts(connect=2.0, first_token=2.0, idle=2.0)
REQUEST = ModelRequest(
    "m", (ChatMessage("user", "hi"), ChatMessage("assistant", "yo"), ChatMessage("user", "again"))
)
KEY = Credential("p:a", CredentialKind.API_KEY, Secret("sk-live-0123456789abcdef"))


async def collect(
    provider: AnthropicProvider | OpenAICompatProvider, credential: Credential = KEY
) -> list[StreamItem]:
    return [item async for item in provider.stream(REQUEST, credential)]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = shared_client()
    yield client
    await client.aclose()


async def test_anthropic_end_usage_history_and_connection_reuse(
    fake_anthropic: FakeAnthropic, http: httpx.AsyncClient
) -> None:
    provider = AnthropicProvider("anthropic", fake_anthropic.base_url, TIMEOUTS, client=http)
    try:
        fake_anthropic.script("m", Reply("a b c", chunks=2, stop_reason="max_tokens"))
        items = await collect(provider)
        assert "".join(i.text for i in items if isinstance(i, TextDelta)) == "a b c"
        end = items[-1]
        assert isinstance(end, StreamEnd) and end.stop_reason == "max_tokens"
        assert end.usage.input_tokens > 0 and end.usage.output_tokens == 3
        assert [m["role"] for m in fake_anthropic.requests[0].body["messages"]] == [
            "user",
            "assistant",
            "user",
        ]
        fresh = Credential("p:a", CredentialKind.API_KEY, Secret("sk-live-new-0123456789"))
        await collect(provider, fresh)
        first, second = fake_anthropic.requests
        assert first.peer == second.peer  # one connection, reused across requests and credentials
        assert (first.headers["x-api-key"], second.headers["x-api-key"]) == (
            KEY.secret.reveal(),
            fresh.secret.reveal(),
        )
        assert first.headers["anthropic-version"] == API_VERSION and "authorization" not in first.headers
    finally:
        await provider.aclose()


async def test_a_cut_stream_is_a_connection_failure_after_the_text_so_far(
    fake_anthropic: FakeAnthropic, http: httpx.AsyncClient
) -> None:
    provider = AnthropicProvider("anthropic", fake_anthropic.base_url, TIMEOUTS, client=http)
    fake_anthropic.script("m", Disconnect(after_chunks=1))
    seen: list[StreamItem] = []
    try:
        with pytest.raises(ConnectionFailed):
            async for item in provider.stream(REQUEST, KEY):
                seen.append(item)
        assert len(seen) == 1 and isinstance(seen[0], TextDelta)
    finally:
        await provider.aclose()


async def test_secrets_never_reach_error_messages(
    fake_anthropic: FakeAnthropic, fake_openai: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    leaky = f"invalid key {KEY.secret.reveal()} and sk-other-abcdefghijkl"
    fake_anthropic.script("m", Error(401, message=leaky))
    fake_openai.script("m", Error(401, message=leaky))
    for provider in (
        AnthropicProvider("anthropic", fake_anthropic.base_url, TIMEOUTS, client=http),
        OpenAICompatProvider("openai", fake_openai.base_url, TIMEOUTS, client=http),
    ):
        try:
            with pytest.raises(AuthFailed) as err:
                await collect(provider)
            assert KEY.secret.reveal() not in str(err.value) and "sk-other-abcdefghijkl" not in repr(
                err.value
            )
        finally:
            await provider.aclose()


async def test_openai_bearer_credential_and_usage(fake_openai: FakeOpenAI, http: httpx.AsyncClient) -> None:
    provider = OpenAICompatProvider("openrouter", fake_openai.base_url, TIMEOUTS, client=http)
    token = Credential("p:t", CredentialKind.BEARER, Secret("tok-0123456789"))
    try:
        items = await collect(provider, token)
        assert fake_openai.requests[0].headers["authorization"] == "Bearer tok-0123456789"
        end = items[-1]
        assert isinstance(end, StreamEnd) and end.stop_reason == "stop" and end.usage.output_tokens > 0
        assert fake_openai.requests[0].body["stream_options"] == {"include_usage": True}
    finally:
        await provider.aclose()


async def test_nothing_listening_is_a_connection_failure(http: httpx.AsyncClient) -> None:
    with FakeOpenAI() as fake:
        url = fake.base_url  # a port that was just free and is closed again below
    provider = OpenAICompatProvider("openai", url, TIMEOUTS, client=http)
    try:
        with pytest.raises(ConnectionFailed):
            await collect(provider)
    finally:
        await provider.aclose()


# ---- tools on both wire formats

WEATHER = ToolSpec(
    "get_weather", "The weather in a city", {"type": "object", "properties": {"city": {"type": "string"}}}
)
HISTORY = (
    ChatMessage("user", "weather in Paris and Rome?"),
    ChatMessage(
        "assistant",
        (
            TextBlock("Looking."),
            ToolUseBlock("toolu_a", "get_weather", {"city": "Paris"}),
            ToolUseBlock("toolu_b", "get_weather", {"city": "Rome"}),
        ),
    ),
    ChatMessage(
        "user",
        (ToolResultBlock("toolu_a", "sunny"), ToolResultBlock("toolu_b", "no such city", is_error=True)),
    ),
)


async def test_anthropic_encodes_blocks_and_tools_and_assembles_streamed_tool_calls(
    fake_anthropic: FakeAnthropic, http: httpx.AsyncClient
) -> None:
    provider = AnthropicProvider("anthropic", fake_anthropic.base_url, TIMEOUTS, client=http)
    call = FakeToolCall("get_weather", {"city": "Oslo", "units": {"temp": "C"}}, id="toolu_c")
    fake_anthropic.script("m", ToolUse((call,), text="One more.", fragments=5))
    items = [i async for i in provider.stream(ModelRequest("m", HISTORY, tools=(WEATHER,)), KEY)]
    assert items == [
        TextDelta("One more."),
        ToolCall("toolu_c", "get_weather", {"city": "Oslo", "units": {"temp": "C"}}),
        StreamEnd("tool_use", items[-1].usage),  # type: ignore[union-attr]
    ]
    body = fake_anthropic.requests[0].body
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "The weather in a city",
            "input_schema": dict(WEATHER.input_schema),
        }
    ]
    assert body["messages"][1]["content"][1] == {
        "type": "tool_use",
        "id": "toolu_a",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_a", "content": "sunny"},
        {"type": "tool_result", "tool_use_id": "toolu_b", "content": "no such city", "is_error": True},
    ]


async def test_openai_encodes_tool_calls_and_tool_messages_and_assembles_fragments(
    fake_openai: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    provider = OpenAICompatProvider("openai", fake_openai.base_url, TIMEOUTS, client=http)
    calls = (FakeToolCall("get_weather", {"city": "Oslo"}, id="c1"), FakeToolCall("get_weather", {}, id="c2"))
    fake_openai.script("m", ToolUse(calls, fragments=4))
    items = [
        i async for i in provider.stream(ModelRequest("m", HISTORY, system="be brief", tools=(WEATHER,)), KEY)
    ]
    assert items[:2] == [ToolCall("c1", "get_weather", {"city": "Oslo"}), ToolCall("c2", "get_weather", {})]
    assert (
        isinstance(items[2], StreamEnd)
        and items[2].stop_reason == "tool_calls"
        and items[2].usage.input_tokens
    )
    body = fake_openai.requests[0].body
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": dict(WEATHER.input_schema),
        },
    }
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool", "tool"]
    assistant = body["messages"][2]
    assert assistant["content"] == "Looking." and [
        c["function"]["arguments"] for c in assistant["tool_calls"]
    ] == [
        '{"city":"Paris"}',
        '{"city":"Rome"}',
    ]
    assert body["messages"][3:] == [
        {"role": "tool", "tool_call_id": "toolu_a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "toolu_b", "content": "error: no such city"},
    ]


async def test_auth_headers_are_the_ones_the_sdk_sent_for_both_credential_kinds(
    fake_anthropic: FakeAnthropic, http: httpx.AsyncClient
) -> None:
    """The old SDK-based adapter's configuration, replayed with the real SDK, against ours."""
    import anthropic

    oauth = Credential("p:o", CredentialKind.BEARER, Secret("sk-ant-oat01-0123456789"))
    sdk_clients = [
        anthropic.AsyncAnthropic(
            api_key=KEY.secret.reveal(),
            base_url=fake_anthropic.base_url,
            max_retries=0,
            default_headers={"X-Api-Key": KEY.secret.reveal(), "Authorization": anthropic.omit},  # type: ignore[dict-item]
        ),
        anthropic.AsyncAnthropic(
            auth_token=oauth.secret.reveal(),
            base_url=fake_anthropic.base_url,
            max_retries=0,
            default_headers={"anthropic-beta": "oauth-2025-04-20"},
        ),
    ]
    provider = AnthropicProvider("anthropic", fake_anthropic.base_url, TIMEOUTS, client=http)
    auth = ("x-api-key", "authorization", "anthropic-beta", "anthropic-version", "content-type")
    try:
        for sdk_client, credential in zip(sdk_clients, (KEY, oauth), strict=True):
            await sdk_client.messages.create(
                model="m", max_tokens=4, messages=[{"role": "user", "content": "q"}]
            )
            [_ async for _ in provider.stream(REQUEST, credential)]
            theirs, ours = fake_anthropic.requests[-2].headers, fake_anthropic.requests[-1].headers
            assert {k: theirs.get(k) for k in auth} == {k: ours.get(k) for k in auth}
    finally:
        for sdk_client in sdk_clients:
            await sdk_client.close()
