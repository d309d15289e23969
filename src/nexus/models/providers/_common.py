"""What both adapters need around a streamed HTTP call: the shared client, per-item deadlines,
error translation (once, here), redaction.

No SDK on the hot path (issue 16): the adapters build the wire body, send it with one shared
``httpx.AsyncClient`` and decode the SSE body themselves. The SDKs cost ~1.2 s and ~45 MB to import
and more CPU per event than the whole router; they remain as test-time checkers of the fakes.

Why the deadlines live here and not in httpx: an HTTP read timeout restarts on every byte, so a
server that sends its preamble and then goes silent, or one that trickles pings, never trips it.
We bound the wait for the first output and the gap between events ourselves.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, TypeVar

import httpx

from nexus.common.redact import redact as redact_text
from nexus.common.secret import Secret
from nexus.config.schema import ProviderConfig
from nexus.models.classify import ErrorFacts, error_for, facts_from_response
from nexus.models.errors import ProviderError, ServerError, Timeout
from nexus.models.providers._sse import SSEDecoder
from nexus.models.types import TextDelta, ToolCall

T = TypeVar("T")


def redact(message: str, secret: Secret | None = None) -> str:
    """A provider message safe for logs: the credential and anything key-shaped masked."""
    return redact_text(message, (secret.reveal(),) if secret is not None else ())


@dataclass(frozen=True)
class StreamTimeouts:
    connect: float
    first_token: float
    idle: float

    @classmethod
    def from_config(cls, config: ProviderConfig) -> StreamTimeouts:
        return cls(config.connect_timeout_s, config.first_token_timeout_s, config.idle_timeout_s)


class Deadline:
    """First text within ``first_token`` of the start, then at most ``idle`` between events, and never
    past ``budget`` (the turn's remaining time), whichever comes first."""

    def __init__(self, timeouts: StreamTimeouts, budget: float | None, *, provider: str, model: str) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        start = loop.time()
        self._hard = start + budget if budget is not None else None
        self._next = self._cap(start + timeouts.first_token)
        self._idle = timeouts.idle
        self._timeouts = timeouts
        self.got_text = False
        self._provider = provider
        self._model = model

    def _cap(self, when: float) -> float:
        return when if self._hard is None else min(when, self._hard)

    def text_seen(self) -> None:
        self.got_text = True

    def event_seen(self) -> None:
        if self.got_text:
            self._next = self._cap(self._loop.time() + self._idle)

    async def wait(self, awaitable: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout_at(self._next):
                return await awaitable
        except TimeoutError as exc:
            raise self.error() from exc

    def error(self) -> Timeout:
        if self._hard is not None and self._next >= self._hard:
            what = "turn deadline reached"
        elif self.got_text:
            what = f"no stream event for {self._idle:g}s (idle timeout)"
        else:
            what = f"no first token within {self._timeouts.first_token:g}s"
        return Timeout(what, provider=self._provider, model=self._model)


async def anext_within(iterator: AsyncIterator[T], deadline: Deadline) -> T:
    """The next item of ``iterator`` within the deadline; ``StopAsyncIteration`` at the end."""
    return await deadline.wait(anext(iterator))


def shared_client(*, connect_timeout_s: float = 5.0) -> httpx.AsyncClient:
    """The one HTTP client of a gateway: every provider's requests share its connection pool.

    HTTP/2 where the server offers it (ALPN over TLS; plain ``http://`` stays HTTP/1.1), keep-alive
    reuse, no retries (the router owns retries), no proxy variables read from the environment
    beyond httpx's defaults. Per-request timeouts come from each provider's config."""
    return httpx.AsyncClient(
        http2=True,
        timeout=httpx.Timeout(60.0, connect=connect_timeout_s),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=60.0),
        follow_redirects=False,
    )


def request_timeout(timeouts: StreamTimeouts) -> httpx.Timeout:
    """httpx's own timeouts, a backstop behind :class:`Deadline` (which bounds first token and idle)."""
    return httpx.Timeout(
        connect=timeouts.connect,
        read=max(timeouts.first_token, timeouts.idle) + 5.0,
        write=30.0,
        pool=timeouts.connect,
    )


def transport_error(exc: httpx.TransportError, *, provider: str, model: str) -> ProviderError:
    """A transport failure (refused, reset, DNS, read error, httpx's own timeouts), classified."""
    transport: Literal["timeout", "connection"] = (
        "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
    )
    facts = ErrorFacts(message=f"{transport} failed ({type(exc).__name__})", transport=transport)
    return error_for(facts, provider=provider, model=model)


MAX_ERROR_BODY = 64 * 1024


async def status_error(
    response: httpx.Response, deadline: Deadline, *, provider: str, model: str, secret: Secret | None
) -> ProviderError:
    """An error status with its body (bounded), as a classified and redacted ProviderError."""
    raw = b""
    async for chunk in _within(response.aiter_bytes(), deadline):
        raw += chunk
        if len(raw) > MAX_ERROR_BODY:
            break
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    facts = facts_from_response(response.status_code, body, response.headers, now=time.time())
    message = redact(facts.message or f"HTTP {response.status_code}", secret)
    return error_for(replace(facts, message=message), provider=provider, model=model)


def event_error(body: Any, *, provider: str, model: str, fallback: str) -> ProviderError:
    """An error inside a 200 stream (an SSE ``error`` event or an ``{"error": ...}`` chunk): the status
    says nothing there, the error's type decides."""
    facts = facts_from_response(None, body)
    return error_for(
        replace(facts, message=redact(facts.message or fallback)), provider=provider, model=model
    )


async def _within(iterator: AsyncIterator[bytes], deadline: Deadline) -> AsyncIterator[bytes]:
    chunks = iterator.__aiter__()
    while True:
        try:
            yield await anext_within(chunks, deadline)
        except StopAsyncIteration:
            return


async def post_stream(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: dict[str, str],
    body: dict[str, Any],
    state: StreamState,
    deadline: Deadline,
    timeout: httpx.Timeout,
    provider: str,
    model: str,
    secret: Secret | None,
) -> AsyncIterator[Produced]:
    """POST a streaming request and yield what its SSE body produces; every failure becomes a
    ProviderError here, once (an error status, an error event, a transport error, a deadline)."""
    request = client.build_request("POST", url, headers=headers, json=body, timeout=timeout)
    response: httpx.Response | None = None
    try:
        response = await deadline.wait(client.send(request, stream=True))
        if response.status_code >= 400:
            raise await status_error(response, deadline, provider=provider, model=model, secret=secret)
        async for item in sse_items(response.aiter_bytes(), state, deadline, provider=provider, model=model):
            yield item
    except httpx.TransportError as exc:
        raise transport_error(exc, provider=provider, model=model) from exc
    finally:
        if response is not None:
            await response.aclose()


Produced = TextDelta | ToolCall


class StreamState(Protocol):
    """What a provider's wire-format state machine offers: what one decoded SSE event produced."""

    producing: bool
    """Has the model started its answer (text or a tool call's input)? Then the idle deadline applies."""

    def apply(self, event: Any, *, provider: str, model: str) -> Sequence[Produced]: ...

    def finish(self, *, provider: str, model: str) -> Sequence[Produced]:
        """What is still held when the body ends (a tool call without its closing event)."""
        ...


async def sse_items(
    chunks: AsyncIterator[bytes], state: StreamState, deadline: Deadline, *, provider: str, model: str
) -> AsyncIterator[Produced]:
    """Decode an SSE body into text deltas and tool calls under the first-token and idle deadlines.

    Reads to the very end (even after the final event) so the connection goes back to the pool."""
    decoder = SSEDecoder()
    ended = False
    while not ended:
        try:
            events = decoder.feed(await anext_within(chunks, deadline))
        except StopAsyncIteration:
            events, ended = decoder.flush(), True
        for event in events:
            produced = state.apply(event, provider=provider, model=model)
            deadline.event_seen()
            if state.producing:
                deadline.text_seen()
            for item in produced:
                yield item
    for item in state.finish(provider=provider, model=model):
        yield item


def parse_tool_input(raw: str, *, name: str, provider: str, model: str) -> dict[str, Any]:
    """A tool call's streamed input, assembled: a JSON object (empty input is ``{}``)."""
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise ServerError(
            f"tool call {name!r}: its input is not valid JSON", provider=provider, model=model
        ) from exc
    if not isinstance(value, dict):
        raise ServerError(
            f"tool call {name!r}: its input is not a JSON object", provider=provider, model=model
        )
    return value
