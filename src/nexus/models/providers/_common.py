"""What both adapters need around an SDK stream: per-item deadlines, a small client cache, redaction.

Why the deadlines live here and not in the SDK: an HTTP read timeout restarts on every byte, so a
server that sends its preamble and then goes silent, or one that trickles pings, never trips it.
We bound the wait for the first text and the gap between events ourselves.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

import httpx2

from nexus.common.secret import Secret
from nexus.config.schema import ProviderConfig
from nexus.models.classify import ErrorFacts, error_for
from nexus.models.errors import ProviderError, Timeout
from nexus.models.providers._sse import SSEDecoder
from nexus.models.types import TextDelta

T = TypeVar("T")
C = TypeVar("C")

_KEYLIKE = re.compile(r"\b(sk|key|rk|pk|tok)[-_][A-Za-z0-9_\-*.]{6,}", re.IGNORECASE)


def redact(message: str, secret: Secret | None = None) -> str:
    """A provider message safe for logs: the credential and anything key-shaped masked."""
    if secret is not None and secret.reveal() and secret.reveal() in message:
        message = message.replace(secret.reveal(), "<credential>")
    return _KEYLIKE.sub(lambda m: f"{m.group(1)}-<redacted>", message)


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


class ClientCache(Generic[C]):
    """One SDK client per credential, reused across requests; the oldest is closed past ``size``.

    Keyed by the credential's kind and secret so a refreshed token gets its own client.
    """

    def __init__(
        self,
        make: Callable[[object], C],
        close: Callable[[C], Coroutine[object, object, None]],
        size: int = 8,
    ) -> None:
        self._make = make
        self._close = close
        self._size = size
        self._clients: OrderedDict[object, C] = OrderedDict()
        self._retired: list[C] = []
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, key: object) -> C:
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = self._make(key)
            while len(self._clients) > self._size:
                _, old = self._clients.popitem(last=False)
                self._retired.append(old)  # an in-flight stream may still use it: closed later
            while len(self._retired) > self._size:
                stale = self._retired.pop(0)
                task = asyncio.get_running_loop().create_task(self._close(stale))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        else:
            self._clients.move_to_end(key)
        return client

    async def aclose(self) -> None:
        clients = [*self._clients.values(), *self._retired]
        self._clients.clear()
        self._retired.clear()
        for client in clients:
            await self._close(client)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


def transport_error(exc: httpx2.TransportError, *, provider: str, model: str) -> ProviderError:
    """A raw transport failure met while reading a stream (the SDKs wrap only the request itself)."""
    transport: Literal["timeout", "connection"] = (
        "timeout" if isinstance(exc, httpx2.TimeoutException) else "connection"
    )
    facts = ErrorFacts(
        message=f"{transport} failed while streaming ({type(exc).__name__})", transport=transport
    )
    return error_for(facts, provider=provider, model=model)


class StreamState(Protocol):
    """What a provider's wire-format state machine offers: text out of one decoded SSE event."""

    def apply(self, event: Any, *, provider: str, model: str) -> str | None: ...


async def sse_text(
    chunks: AsyncIterator[bytes], state: StreamState, deadline: Deadline, *, provider: str, model: str
) -> AsyncIterator[TextDelta]:
    """Decode an SSE body into text deltas under the first-token and idle deadlines.

    Reads to the very end (even after the final event) so the connection goes back to the pool."""
    decoder = SSEDecoder()
    ended = False
    while not ended:
        try:
            events = decoder.feed(await anext_within(chunks, deadline))
        except StopAsyncIteration:
            events, ended = decoder.flush(), True
        for event in events:
            text = state.apply(event, provider=provider, model=model)
            deadline.event_seen()
            if text:
                deadline.text_seen()
                yield TextDelta(text)


async def stream_text(
    opened: Any,
    state: StreamState,
    deadline: Deadline,
    *,
    provider: str,
    model: str,
    sdk_error: type[Exception],
    translate: Callable[[Exception], ProviderError],
) -> AsyncIterator[TextDelta]:
    """Open an SDK streaming response (``with_streaming_response.create(...)``) and yield its text.

    The SDK builds, authenticates and sends the request and raises on an error status; we decode the
    SSE body ourselves (the SDKs' per-event models cost more CPU than the whole router). Foreign
    errors become ProviderErrors here, once."""
    entered = False
    try:
        response = await deadline.wait(opened.__aenter__())
        entered = True
        async for delta in sse_text(
            response.iter_bytes().__aiter__(), state, deadline, provider=provider, model=model
        ):
            yield delta
    except ProviderError:
        raise
    except sdk_error as exc:
        raise translate(exc) from exc
    except httpx2.TransportError as exc:
        raise transport_error(exc, provider=provider, model=model) from exc
    finally:
        if entered:
            await opened.__aexit__(None, None, None)
