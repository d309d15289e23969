"""OpenAI-compatible chat completions (OpenAI, OpenRouter, Ollama, vLLM...) through the ``openai`` SDK.

The SDK sends and raises on error statuses; the SSE body we decode ourselves. Streaming only; retries off (the router owns them); every credential goes as ``Authorization:
Bearer``; a keyless endpoint (a local Ollama) gets no ``Authorization`` header at all. Every SDK
exception is translated here into :mod:`nexus.models.errors`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx2

from nexus.auth.credentials import Credential
from nexus.common.secret import Secret
from nexus.models.classify import ErrorFacts, error_for, facts_from_response
from nexus.models.errors import ProviderError
from nexus.models.providers._common import (
    ClientCache,
    Deadline,
    StreamTimeouts,
    redact,
    stream_text,
)
from nexus.models.providers._sse import SSEEvent
from nexus.models.types import ModelRequest, StreamEnd, StreamItem, Usage

if TYPE_CHECKING:
    import openai

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def sdk() -> ModuleType:
    """The ``openai`` package, imported on first use (~0.6 s, ~35 MB): not on the gateway's start path."""
    import openai

    return openai


class OpenAICompatProvider:
    """One configured OpenAI-compatible endpoint; one SDK client per credential, reused."""

    def __init__(self, name: str, base_url: str, timeouts: StreamTimeouts) -> None:
        self.name = name
        self.base_url = base_url
        self._timeouts = timeouts
        self._clients: ClientCache[openai.AsyncOpenAI] = ClientCache(self._make_client, _close)

    def warm(self) -> None:
        """Import the SDK now (blocking; call from a worker thread)."""
        sdk()

    def _make_client(self, key: object) -> openai.AsyncOpenAI:
        openai = sdk()
        _kind, secret = key  # type: ignore[misc]
        assert isinstance(secret, Secret)
        timeout = httpx2.Timeout(
            connect=self._timeouts.connect,
            read=max(self._timeouts.first_token, self._timeouts.idle) + 5.0,
            write=30.0,
            pool=self._timeouts.connect,
        )
        return openai.AsyncOpenAI(
            api_key=secret.reveal() or "keyless",
            organization=None,
            project=None,
            base_url=self.base_url,
            max_retries=0,
            timeout=timeout,
        )

    def _params(self, request: ModelRequest, credential: Credential) -> dict[str, Any]:
        openai = sdk()
        messages: list[dict[str, str]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend({"role": m.role, "content": m.content} for m in request.messages)
        params: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if not credential.secret:  # keyless endpoint: send no Authorization header at all
            params["extra_headers"] = {"Authorization": openai.omit}
        return params

    async def stream(self, request: ModelRequest, credential: Credential) -> AsyncIterator[StreamItem]:
        openai = sdk()
        client = self._clients.get((credential.kind, credential.secret))
        deadline = Deadline(self._timeouts, request.budget_s, provider=self.name, model=request.model)
        state = _CompletionState()
        opened = client.chat.completions.with_streaming_response.create(**self._params(request, credential))
        async for delta in stream_text(
            opened,
            state,
            deadline,
            provider=self.name,
            model=request.model,
            sdk_error=openai.APIError,
            translate=lambda exc: translate(exc, self.name, request.model, credential.secret),
        ):
            yield delta
        yield StreamEnd(stop_reason=state.finish, usage=state.usage)

    async def aclose(self) -> None:
        await self._clients.aclose()


class _CompletionState:
    """What the ``chat.completion.chunk`` stream has told us so far."""

    def __init__(self) -> None:
        self.usage = Usage()
        self.finish: str | None = None
        self.done = False

    def apply(self, event: SSEEvent, *, provider: str, model: str) -> str | None:
        """Fold one event in; its answer text, if any. An error object raises the classified error."""
        if event.data == "[DONE]" or self.done:
            self.done = True
            return None
        try:
            data = json.loads(event.data)
        except ValueError:
            return None  # a keep-alive or a proxy's noise: not ours to fail on
        if not isinstance(data, dict):
            return None
        if data.get("error"):
            facts = facts_from_response(None, data)
            raise error_for(
                replace(facts, message=redact(facts.message or "error in stream")),
                provider=provider,
                model=model,
            )
        usage = data.get("usage")
        if isinstance(usage, dict):
            self.usage = Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        text = []
        for choice in data.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                text.append(delta["content"])
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return "".join(text) or None


async def _close(client: openai.AsyncOpenAI) -> None:
    await client.close()


def translate(exc: openai.APIError, provider: str, model: str, secret: Secret | None = None) -> ProviderError:
    """An SDK exception as a classified :class:`ProviderError` (the message redacted)."""
    openai = sdk()
    if isinstance(exc, openai.APITimeoutError):
        facts = ErrorFacts(message="request timed out", transport="timeout")
    elif isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        name = type(cause).__name__ if cause else "unknown"
        facts = ErrorFacts(message=f"connection failed ({name})", transport="connection")
    elif isinstance(exc, openai.APIStatusError):
        facts = facts_from_response(exc.status_code, exc.body, exc.response.headers, now=time.time())
    else:  # an error object inside a 200 stream: the SDK hands over the inner ``error`` mapping
        facts = facts_from_response(None, exc.body)
    safe = redact(facts.message or exc.message, secret)
    return error_for(replace(facts, message=safe), provider=provider, model=model)
