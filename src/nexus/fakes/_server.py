"""What both fake model servers share: scripted behaviours, request recording, a uvicorn thread.

A fake is a real HTTP server on 127.0.0.1 (its own event loop in a background thread), so the real
SDKs, a gateway subprocess and a benchmark all talk to it over real sockets. Each API module
(``anthropic_server``, ``openai_server``) only knows its wire format; this module knows *when* to
answer what:

    behaviour = queued script for the model  -> queued script for any model
                -> persistent override for the model -> persistent override for any model
                -> Reply() (echo of the last user text)

Behaviours are plain data, so a separate process can be scripted too, through
``POST /_fake/script`` (see :func:`behaviour_from_json`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


# --------------------------------------------------------------------------- behaviours


@dataclass(frozen=True)
class Reply:
    """A normal answer. ``text=None`` echoes ``"echo: <last user text>"``; streamed in ``chunks`` deltas."""

    text: str | None = None
    chunks: int = 3
    delay: float = 0.0
    """Seconds before each delta (streaming) or before the whole answer (non-streaming)."""
    stop_reason: str = "end_turn"


@dataclass(frozen=True)
class Error:
    """An HTTP error with the API's real error body. ``error_type`` defaults from the status."""

    status: int
    error_type: str | None = None
    message: str | None = None
    retry_after: float | None = None
    code: str | None = None
    """OpenAI's ``error.code`` (e.g. ``rate_limit_exceeded``, ``insufficient_quota``)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, Any] | None = None
    """Anthropic's ``error.details`` (e.g. ``{"error_code": "enforced_spend_limit_reached"}``)."""

    @classmethod
    def prompt_too_long(cls) -> Error:
        return cls(
            400,
            "invalid_request_error",
            "prompt is too long: 214751 tokens > 200000 maximum",
            code="context_length_exceeded",
        )

    @classmethod
    def spend_cap(cls) -> Error:
        """Anthropic's spend-cap 429: a billing problem wearing a rate-limit status (no retry-after)."""
        return cls(
            429,
            "rate_limit_error",
            "Your organization has reached its monthly API usage limit. Raise it in Settings > Limits.",
            code="insufficient_quota",
            details={"error_code": "enforced_spend_limit_reached"},
        )


@dataclass(frozen=True)
class MidStreamError:
    """Stream ``after_chunks`` deltas with status 200, then an SSE ``error`` event (stream requests only).

    A non-streaming request gets the same error as a plain HTTP error (529/500)."""

    after_chunks: int = 2
    error_type: str = "overloaded_error"
    message: str = "Overloaded"


@dataclass(frozen=True)
class Hang:
    """Stop answering. ``after_chunks=None``: no response headers at all; ``0``: headers and the stream
    preamble, then silence (a first-token timeout); ``n``: n deltas, then silence (an idle timeout).
    Lasts ``seconds`` (``None``: until the client gives up or the fake stops)."""

    seconds: float | None = None
    after_chunks: int | None = None


@dataclass(frozen=True)
class Disconnect:
    """Drop the TCP connection without an answer, after ``after_chunks`` deltas (``None``: at once)."""

    after_chunks: int | None = None


@dataclass(frozen=True)
class Reset:
    """Reset the TCP connection (RST, as a provider's load balancer does under a burst) after reading
    the request, before any byte of the answer: the client sees ``ECONNRESET``."""


@dataclass(frozen=True)
class FakeToolCall:
    """One tool call a scripted answer makes; ``id`` defaults to a fresh one in the API's style."""

    name: str
    input: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class ToolUse:
    """An answer that says ``text`` (may be empty) and then calls tools, streamed the way the API
    streams them: each call's input JSON in ``fragments`` pieces (Anthropic ``input_json_delta``,
    OpenAI ``tool_calls[].function.arguments``); stop reason ``tool_use`` / ``tool_calls``."""

    calls: tuple[FakeToolCall, ...]
    text: str = ""
    fragments: int = 3


Behaviour = Reply | Error | MidStreamError | Hang | Disconnect | Reset | ToolUse

_KINDS: dict[str, type[Any]] = {
    "reply": Reply,
    "error": Error,
    "mid_stream_error": MidStreamError,
    "hang": Hang,
    "disconnect": Disconnect,
    "reset": Reset,
    "tool_use": ToolUse,
}


def behaviour_to_json(behaviour: Behaviour) -> dict[str, Any]:
    kind = next(k for k, cls in _KINDS.items() if isinstance(behaviour, cls))
    data = asdict(behaviour)
    if "headers" in data:
        data["headers"] = dict(data["headers"])
    if data.get("details") is not None:
        data["details"] = dict(data["details"])
    if "calls" in data:
        data["calls"] = [dict(c) for c in data["calls"]]
    return {"kind": kind, **data}


def behaviour_from_json(data: Mapping[str, Any]) -> Behaviour:
    """``{"kind": "error", "status": 429, "retry_after": 1}`` -> ``Error(429, retry_after=1)``."""
    params = dict(data)
    kind = params.pop("kind", None)
    cls = _KINDS.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown behaviour kind {kind!r}; use one of {', '.join(_KINDS)}")
    if cls is ToolUse:
        params["calls"] = tuple(FakeToolCall(**dict(c)) for c in params.get("calls", ()))
    result: Behaviour = cls(**params)
    return result


# --------------------------------------------------------------------------- recording


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    """Lower-cased header names."""
    body: Any
    model: str | None
    stream: bool
    at: float = field(default_factory=time.time)
    peer: int | None = None
    """The client's port: the same port on two requests means one reused connection."""


class Script:
    """Thread-safe behaviour queues, persistent overrides and the request log of one fake."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str | None, deque[Behaviour]] = {}
        self._always: dict[str | None, Behaviour] = {}
        self._requests: list[RecordedRequest] = []
        self.latency = 0.0

    def push(self, model: str | None, behaviours: tuple[Behaviour, ...]) -> None:
        with self._lock:
            self._queues.setdefault(model, deque()).extend(behaviours)

    def always(self, model: str | None, behaviour: Behaviour | None) -> None:
        with self._lock:
            if behaviour is None:
                self._always.pop(model, None)
            else:
                self._always[model] = behaviour

    def next_for(self, model: str | None) -> Behaviour:
        with self._lock:
            for key in (model, None):
                queue = self._queues.get(key)
                if queue:
                    return queue.popleft()
            for key in (model, None):
                if key in self._always:
                    return self._always[key]
        return Reply()

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, model: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self._requests if model is None or r.model == model)

    def reset(self) -> None:
        with self._lock:
            self._queues.clear()
            self._always.clear()
            self._requests.clear()
            self.latency = 0.0


# --------------------------------------------------------------------------- the server thread


def bind_loopback(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1; port 0 lets the kernel pick a free one (no probe-then-bind race)."""
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP;
    # without it Nagle holds each response body until the client's delayed ACK (40 ms per response).
    # The explicit option is inherited by accepted sockets too, whatever asyncio decides.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


TRANSPORT_KEY = "nexus.fakes.transport"
"""Where :class:`_ResettableProtocol` leaves the connection's transport, in the request's ``state``."""


def _protocol_class() -> type[Any]:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class _ResettableProtocol(HttpToolsProtocol):
        """uvicorn's protocol, handing each request its connection so a fake can reset it."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self.app_state = {**self.app_state, TRANSPORT_KEY: transport}
            super().connection_made(transport)

    return _ResettableProtocol


def reset_connection(scope: Mapping[str, Any]) -> None:
    """Abort the request's TCP connection with an RST (SO_LINGER 0), so the client reads ECONNRESET."""
    transport = scope.get("state", {}).get(TRANSPORT_KEY)
    if transport is None:
        raise RuntimeError("reset_connection needs the fake's ThreadedServer (its protocol class)")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class ThreadedServer:
    """Serve an ASGI app with uvicorn on its own event loop in a daemon thread."""

    def __init__(
        self, app: Callable[..., Any], *, port: int = 0, name: str = "fake", ws: str = "none"
    ) -> None:
        self._sock = bind_loopback(port)
        self.port: int = self._sock.getsockname()[1]
        self.stopping = threading.Event()
        config = uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws=ws,
            http=_protocol_class(),
            timeout_graceful_shutdown=2,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"{name}-{self.port}", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:  # reported by start()/stop(), never lost in the thread
            self._error = exc

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"fake server on port {self.port} failed to start") from self._error
            if time.monotonic() > deadline:
                raise RuntimeError(f"fake server on port {self.port} did not start within {START_TIMEOUT_S}s")
            time.sleep(0.005)

    def stop(self) -> None:
        self.stopping.set()
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_S)
        with contextlib.suppress(OSError):
            self._sock.close()
        if self._thread.is_alive():
            raise RuntimeError(f"fake server on port {self.port} did not stop within {STOP_TIMEOUT_S}s")


async def pause(seconds: float | None, stopping: threading.Event) -> None:
    """Sleep ``seconds`` (``None``: forever) but wake when the fake stops, so shutdown is never stuck."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while not stopping.is_set():
        left = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
        if left <= 0:
            return
        await asyncio.sleep(left)


async def request_params(request: Any) -> dict[str, Any]:
    """Query, JSON or form parameters of a starlette request, merged (what the Bot and Web APIs accept)."""
    params: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif content_type.startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
    return params


def split_text(text: str, chunks: int) -> list[str]:
    """Cut ``text`` into ``chunks`` non-empty pieces (fewer when the text is shorter)."""
    chunks = max(1, min(chunks, len(text) or 1))
    size, extra = divmod(len(text), chunks)
    pieces, start = [], 0
    for i in range(chunks):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return [p for p in pieces if p] or [""]


# --------------------------------------------------------------------------- the common fake API

TokenCheck = Callable[[Mapping[str, str]], bool]


class MethodLog:
    """What a platform fake (Telegram, Slack) knows per API method: how often and when it was called,
    and the scripted failures its next calls get. Thread-safe: tests read it while the server runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, int] = {}
        self._times: dict[str, list[float]] = {}
        self._failures: dict[str, list[Any]] = {}

    def script(self, method: str, failures: list[Any]) -> None:
        with self._lock:
            self._failures.setdefault(method, []).extend(failures)

    def arrive(self, method: str) -> Any:
        """Record one call; the scripted failure it gets, or None."""
        with self._lock:
            self._calls[method] = self._calls.get(method, 0) + 1
            self._times.setdefault(method, []).append(time.monotonic())
            queue = self._failures.get(method)
            return queue.pop(0) if queue else None

    def count(self, method: str) -> int:
        with self._lock:
            return self._calls.get(method, 0)

    def times(self, method: str) -> list[float]:
        """Monotonic arrival time of every call of ``method``."""
        with self._lock:
            return list(self._times.get(method, []))


class ThreadedFake:
    """Life cycle shared by every fake: a context manager running ``build_app()`` in a ThreadedServer."""

    api_name = "fake"
    websockets = False
    """True for fakes that serve WebSocket routes (Slack's and Discord's sockets)."""

    def __init__(self, *, port: int = 0) -> None:
        self._port_wanted = port
        self._server: ThreadedServer | None = None

    def build_app(self) -> Callable[..., Any]:
        raise NotImplementedError

    def start(self) -> Any:
        if self._server is not None:
            raise RuntimeError(f"{self.api_name} fake already started")
        self._server = ThreadedServer(
            self.build_app(),
            port=self._port_wanted,
            name=self.api_name,
            ws="websockets-sansio" if self.websockets else "none",
        )
        self._server.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @staticmethod
    def wait_until(predicate: Callable[[], Any], *, timeout: float = 10.0, what: str = "condition") -> Any:
        """Poll ``predicate`` (bounded); return its first truthy value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.01)


class FakeModelServer(ThreadedFake):
    """The scripting, recording and life-cycle API both fakes share; subclasses add the wire format.

    Use as a context manager; ``base_url`` is valid inside it.
    """

    api_name = "fake"
    base_path = ""
    """Appended to ``http://127.0.0.1:PORT`` in ``base_url`` (``/v1`` for OpenAI-compatible APIs)."""

    def __init__(self, *, port: int = 0, known_models: set[str] | None = None) -> None:
        super().__init__(port=port)
        self.known_models = known_models
        """When set, any other model gets the API's real 404 ``model not found`` answer."""
        self.accept_token: TokenCheck | None = None
        """Headers in (lower-cased), allow? ``False`` gets the API's real 401. ``None`` accepts any key."""
        self._script = Script()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(
                f"{self.api_name} fake is not running: use `with {type(self).__name__}() as fake:`"
            )
        return self._server.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    @property
    def stopping(self) -> threading.Event:
        return self._server.stopping if self._server is not None else threading.Event()

    # ---- scripting
    def script(self, model: str | None, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests to ``model`` (``None``: any model), consumed in order."""
        self._script.push(model, behaviours)

    def always(self, model: str | None, behaviour: Behaviour | None) -> None:
        """A persistent behaviour for ``model`` (``None``: any model) once its queue is empty; None clears."""
        self._script.always(model, behaviour)

    @property
    def latency(self) -> float:
        """Seconds every request waits before its behaviour starts."""
        return self._script.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._script.latency = seconds

    def reset(self) -> None:
        """Forget scripts, overrides, latency and recorded requests."""
        self._script.reset()

    # ---- observing
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        return self._script.requests()

    def count(self, model: str | None = None) -> int:
        return self._script.count(model)

    def next_behaviour(self, model: str | None) -> Behaviour:
        return self._script.next_for(model)

    def record(self, request: RecordedRequest) -> None:
        self._script.record(request)

    # ---- control routes, so a fake in another process can be scripted over HTTP
    async def control(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        action = request.path_params["action"]
        if action == "requests":
            return JSONResponse(
                {
                    "count": self.count(),
                    "by_model": _by_model(self.requests),
                }
            )
        if action == "reset":
            self.reset()
            return JSONResponse({"ok": True})
        if action == "script":
            data = await request.json()
            try:
                behaviours = tuple(behaviour_from_json(b) for b in data.get("behaviours", []))
            except (TypeError, ValueError) as exc:
                return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
            if "latency" in data:
                self.latency = float(data["latency"])
            if data.get("always"):
                self.always(data.get("model"), behaviours[0] if behaviours else None)
            else:
                self.script(data.get("model"), *behaviours)
            return JSONResponse({"ok": True})
        return JSONResponse({"ok": False, "error": f"unknown control action {action!r}"}, status_code=404)


def _by_model(requests: list[RecordedRequest]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in requests:
        counts[r.model or ""] = counts.get(r.model or "", 0) + 1
    return counts


def serve_forever(fake: FakeModelServer, argv: list[str] | None = None) -> None:
    """``python -m nexus.fakes.<api>_server --port N``: run a fake in the foreground until SIGINT/SIGTERM.

    Prints ``listening <base_url>`` on stdout once it accepts connections (benchmarks wait for it).
    """
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=f"Protocol-faithful fake {fake.api_name} API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every answer")
    args = parser.parse_args(argv)
    fake._port_wanted = args.port
    done = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        done.set()

    old = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with fake:
            fake.latency = args.latency
            print(f"listening {fake.base_url}", flush=True)
            while not done.wait(0.5):
                pass
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def tool_input_fragments(call: FakeToolCall, fragments: int) -> list[str]:
    """A call's input as the JSON fragments a streaming API sends (joined, they parse)."""
    return split_text(json.dumps(dict(call.input), separators=(",", ":")), fragments)


STOPPED = object()
"""Yielded by :func:`play` when the fake stops during a scripted hang: end the stream at once."""


async def play(
    behaviour: Behaviour, text: str, delay: float, stopping: threading.Event
) -> AsyncIterator[Any]:
    """A streamed answer's text pieces in order, with the scripted interruption cut in: yields each
    piece (a str); a :class:`MidStreamError` where the API sends its error event (nothing follows);
    :data:`STOPPED` if the fake stops during a hang; a :class:`Disconnect` raises (the connection drops)."""
    pieces, cut = stream_plan(behaviour, text)
    for index in range(len(pieces) + 1):
        if index == cut:
            if isinstance(behaviour, MidStreamError):
                yield behaviour
                return
            if isinstance(behaviour, Disconnect):
                raise ConnectionAbortedError("fake: scripted disconnect mid-stream")
            if isinstance(behaviour, Hang):
                await pause(behaviour.seconds, stopping)
                if stopping.is_set():
                    yield STOPPED
                    return
        if index == len(pieces):
            return
        if delay:
            await pause(delay, stopping)
        yield pieces[index]


def stream_plan(behaviour: Behaviour, text: str) -> tuple[list[str], int | None]:
    """The deltas of a streamed answer and where a scripted interruption cuts in (None: nowhere)."""
    chunks = behaviour.chunks if isinstance(behaviour, Reply) else 3
    if not isinstance(behaviour, MidStreamError | Hang | Disconnect):
        return split_text(text, chunks), None
    cut = behaviour.after_chunks or 0
    pieces = split_text(text, max(chunks, cut))
    while len(pieces) < cut:
        pieces.append(pieces[-1] or ".")
    return pieces, cut
