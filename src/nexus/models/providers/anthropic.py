"""Anthropic Messages API through the official ``anthropic`` SDK, streaming only.

Credentials per request: an API key goes as ``x-api-key`` (the 2.x SDK would send it as Bearer, so
we set the header ourselves and omit ``Authorization``); an OAuth or long-lived token goes as
``Authorization: Bearer`` with ``anthropic-beta: oauth-2025-04-20``. The SDK's retries are off: the
router owns retries. Every SDK exception is translated here into :mod:`nexus.models.errors`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx2

from nexus.auth.credentials import Credential, CredentialKind
from nexus.common.secret import Secret
from nexus.models.classify import ErrorFacts, error_for, facts_from_response
from nexus.models.errors import ConnectionFailed, ProviderError
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
    import anthropic

DEFAULT_BASE_URL = "https://api.anthropic.com"


def sdk() -> ModuleType:
    """The ``anthropic`` package, imported on first use: it costs ~1.2 s and ~60 MB, which the
    gateway must not pay before it is ready (``Router.warm()`` imports it in a thread afterwards)."""
    import anthropic

    return anthropic


OAUTH_BETA = "oauth-2025-04-20"


class AnthropicProvider:
    """One configured Anthropic endpoint; one SDK client per credential, reused."""

    def __init__(self, name: str, base_url: str, timeouts: StreamTimeouts) -> None:
        self.name = name
        self.base_url = base_url
        self._timeouts = timeouts
        self._clients: ClientCache[anthropic.AsyncAnthropic] = ClientCache(self._make_client, _close)

    def warm(self) -> None:
        """Import the SDK and build its lazy error schemas now (blocking; call from a worker thread).

        The first error the SDK raises builds pydantic models for ~90 error-detail types (~20 ms):
        paid here, not by the first turn that needs to fall over."""
        anthropic = sdk()
        request = httpx2.Request("POST", f"{self.base_url}/v1/messages")
        for status, cls in (
            (400, anthropic.BadRequestError),
            (401, anthropic.AuthenticationError),
            (404, anthropic.NotFoundError),
            (429, anthropic.RateLimitError),
            (500, anthropic.InternalServerError),
            (529, anthropic.OverloadedError),
        ):
            body = {"type": "error", "error": {"type": "api_error", "message": "warm-up"}}
            cls("warm-up", response=httpx2.Response(status, request=request), body=body)

    def _make_client(self, key: object) -> anthropic.AsyncAnthropic:
        anthropic = sdk()
        kind, secret = key  # type: ignore[misc]
        assert isinstance(secret, Secret)
        value = secret.reveal()
        timeout = httpx2.Timeout(
            connect=self._timeouts.connect,
            read=max(self._timeouts.first_token, self._timeouts.idle) + 5.0,
            write=30.0,
            pool=self._timeouts.connect,
        )
        common: dict[str, Any] = {
            "base_url": self.base_url,
            "max_retries": 0,
            "timeout": timeout,
            "open_telemetry": False,
        }
        if kind == CredentialKind.BEARER:
            return anthropic.AsyncAnthropic(
                auth_token=value, default_headers={"anthropic-beta": OAUTH_BETA}, **common
            )
        return anthropic.AsyncAnthropic(
            api_key=value,
            default_headers={"X-Api-Key": value, "Authorization": anthropic.omit},  # type: ignore[dict-item]
            **common,
        )

    def _params(self, request: ModelRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
        }
        if request.system:
            params["system"] = request.system
        return params

    async def stream(self, request: ModelRequest, credential: Credential) -> AsyncIterator[StreamItem]:
        anthropic = sdk()
        client = self._clients.get((credential.kind, credential.secret))
        deadline = Deadline(self._timeouts, request.budget_s, provider=self.name, model=request.model)
        state = _MessageState()
        opened = client.messages.with_streaming_response.create(**self._params(request))
        async for delta in stream_text(
            opened,
            state,
            deadline,
            provider=self.name,
            model=request.model,
            sdk_error=anthropic.APIError,
            translate=lambda exc: translate(exc, self.name, request.model, credential.secret),
        ):
            yield delta
        if not state.finished:
            raise ConnectionFailed(
                "stream ended before message_stop", provider=self.name, model=request.model
            )
        yield StreamEnd(stop_reason=state.stop_reason, usage=Usage(state.input_tokens, state.output_tokens))

    async def aclose(self) -> None:
        await self._clients.aclose()


class _MessageState:
    """What the Messages event sequence has told us so far."""

    def __init__(self) -> None:
        self.input_tokens = 0
        self.output_tokens = 0
        self.stop_reason: str | None = None
        self.finished = False

    def apply(self, event: SSEEvent, *, provider: str, model: str) -> str | None:
        """Fold one event in; its answer text, if any. An ``error`` event raises the classified error."""
        kind = event.event
        if kind == "content_block_delta":
            delta = json.loads(event.data).get("delta") or {}
            return delta.get("text") if delta.get("type") == "text_delta" else None
        if kind == "message_start":
            usage = (json.loads(event.data).get("message") or {}).get("usage") or {}
            self.input_tokens = int(usage.get("input_tokens") or 0)
        elif kind == "message_delta":
            data = json.loads(event.data)
            self.stop_reason = (data.get("delta") or {}).get("stop_reason")
            self.output_tokens = int((data.get("usage") or {}).get("output_tokens") or 0)
        elif kind == "message_stop":
            self.finished = True
        elif kind == "error":
            try:
                body = json.loads(event.data)
            except ValueError:
                body = event.data
            facts = facts_from_response(None, body)
            raise error_for(
                replace(facts, message=redact(facts.message or "error event")), provider=provider, model=model
            )
        return None


async def _close(client: anthropic.AsyncAnthropic) -> None:
    await client.close()


def translate(
    exc: anthropic.APIError, provider: str, model: str, secret: Secret | None = None
) -> ProviderError:
    """An SDK exception as a classified :class:`ProviderError` (the message redacted)."""
    anthropic = sdk()
    if isinstance(exc, anthropic.APITimeoutError):
        facts = ErrorFacts(message="request timed out", transport="timeout")
    elif isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__
        facts = ErrorFacts(
            message=f"connection failed ({type(cause).__name__ if cause else 'unknown'})",
            transport="connection",
        )
    elif isinstance(exc, anthropic.APIStatusError):
        facts = facts_from_response(exc.status_code, exc.body, exc.response.headers, now=time.time())
        if exc.status_code == 200:  # an SSE error event: the status belongs to the stream, not the error
            facts = ErrorFacts(error_type=facts.error_type, code=facts.code, message=facts.message)
    else:
        facts = facts_from_response(None, exc.body)
    safe = redact(facts.message or exc.message, secret)
    return error_for(replace(facts, message=safe), provider=provider, model=model)
