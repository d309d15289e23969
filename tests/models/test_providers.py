"""The two adapters against the fakes: wire details the router does not look at."""

from __future__ import annotations

import pytest

from nexus.auth.credentials import Credential, CredentialKind
from nexus.common.secret import Secret
from nexus.fakes._server import Disconnect, Error, Reply
from nexus.fakes.anthropic_server import FakeAnthropic
from nexus.fakes.openai_server import FakeOpenAI
from nexus.models.errors import AuthFailed, ConnectionFailed
from nexus.models.providers._common import StreamTimeouts
from nexus.models.providers.anthropic import AnthropicProvider
from nexus.models.providers.openai_compat import OpenAICompatProvider
from nexus.models.types import ChatMessage, ModelRequest, StreamEnd, StreamItem, TextDelta

TIMEOUTS = StreamTimeouts(connect=2.0, first_token=2.0, idle=2.0)
REQUEST = ModelRequest(
    "m", (ChatMessage("user", "hi"), ChatMessage("assistant", "yo"), ChatMessage("user", "again"))
)
KEY = Credential("p:a", CredentialKind.API_KEY, Secret("sk-live-0123456789abcdef"))


async def collect(
    provider: AnthropicProvider | OpenAICompatProvider, credential: Credential = KEY
) -> list[StreamItem]:
    return [item async for item in provider.stream(REQUEST, credential)]


async def test_anthropic_end_usage_history_and_client_reuse(fake_anthropic: FakeAnthropic) -> None:
    provider = AnthropicProvider("anthropic", fake_anthropic.base_url, TIMEOUTS)
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
        await collect(provider)
        assert provider._clients.get((KEY.kind, KEY.secret)) is provider._clients.get((KEY.kind, KEY.secret))
        fresh = Credential("p:a", CredentialKind.API_KEY, Secret("sk-live-new-0123456789"))
        assert provider._clients.get((fresh.kind, fresh.secret)) is not provider._clients.get(
            (KEY.kind, KEY.secret)
        )
    finally:
        await provider.aclose()


async def test_a_cut_stream_is_a_connection_failure_after_the_text_so_far(
    fake_anthropic: FakeAnthropic,
) -> None:
    provider = AnthropicProvider("anthropic", fake_anthropic.base_url, TIMEOUTS)
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
    fake_anthropic: FakeAnthropic, fake_openai: FakeOpenAI
) -> None:
    leaky = f"invalid key {KEY.secret.reveal()} and sk-other-abcdefghijkl"
    fake_anthropic.script("m", Error(401, message=leaky))
    fake_openai.script("m", Error(401, message=leaky))
    for provider in (
        AnthropicProvider("anthropic", fake_anthropic.base_url, TIMEOUTS),
        OpenAICompatProvider("openai", fake_openai.base_url, TIMEOUTS),
    ):
        try:
            with pytest.raises(AuthFailed) as err:
                await collect(provider)
            assert KEY.secret.reveal() not in str(err.value) and "sk-other-abcdefghijkl" not in repr(
                err.value
            )
        finally:
            await provider.aclose()


async def test_openai_bearer_credential_and_usage(fake_openai: FakeOpenAI) -> None:
    provider = OpenAICompatProvider("openrouter", fake_openai.base_url, TIMEOUTS)
    token = Credential("p:t", CredentialKind.BEARER, Secret("tok-0123456789"))
    try:
        items = await collect(provider, token)
        assert fake_openai.requests[0].headers["authorization"] == "Bearer tok-0123456789"
        end = items[-1]
        assert isinstance(end, StreamEnd) and end.stop_reason == "stop" and end.usage.output_tokens > 0
        assert fake_openai.requests[0].body["stream_options"] == {"include_usage": True}
    finally:
        await provider.aclose()


async def test_nothing_listening_is_a_connection_failure() -> None:
    with FakeOpenAI() as fake:
        url = fake.base_url  # a port that was just free and is closed again below
    provider = OpenAICompatProvider("openai", url, TIMEOUTS)
    try:
        with pytest.raises(ConnectionFailed):
            await collect(provider)
    finally:
        await provider.aclose()
