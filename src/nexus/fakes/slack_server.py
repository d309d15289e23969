"""A protocol-faithful fake of Slack's Web API and Socket Mode on 127.0.0.1, for slack-sdk (or any client).

It speaks what slack.com speaks (https://docs.slack.dev/apis/events-api/using-socket-mode/):

- ``POST /api/apps.connections.open`` with the app-level ``xapp-`` token answers
  ``{"ok": true, "url": "ws://127.0.0.1:P/link/?ticket=…&app_id=…"}``; ``auth.test``,
  ``chat.postMessage`` (returns ``ts``) and ``chat.update`` with the bot ``xoxb-`` token; errors are
  HTTP 200 with ``{"ok": false, "error": …}``, except a rate limit: HTTP 429, ``Retry-After`` and
  ``{"ok": false, "error": "ratelimited"}``;
- the socket: ``hello`` first, then ``events_api`` envelopes; an envelope not acked with
  ``{"envelope_id": …}`` within ``redeliver_after_s`` comes again under a *new* envelope id with
  ``retry_attempt`` + 1 and ``retry_reason: "timeout"`` (so only ``event_id`` identifies the event);
- ``disconnect`` with a reason (``refresh_requested``, ``warning``, ``link_disabled``,
  ``too_many_websockets`` beyond ``max_sockets`` sockets), then the socket closes;
- the bot's own posts come back as ``message`` events with ``bot_id`` (the real API does so in every
  conversation the app is subscribed to), which is what a delivery canary listens for;
- fault switches: :meth:`make_deaf` (sockets stay open and answer pings but deliver nothing, the
  "connected but deaf" failure), :meth:`drop_sockets`, :meth:`fail_next` (e.g. a 429).

    with FakeSlack(app_token, bot_token) as slack:
        slack.push_message(user="U1", text="hi")
        ... [channels.slack] api_base = slack.base_url ...
        slack.wait_until(lambda: slack.sent("D1"))
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from nexus.fakes._server import MethodLog, ThreadedFake, request_params

TEAM_ID = "T0NEXUS01"
APP_ID = "A0NEXUS01"
BOT_USER_ID = "U0NEXUSBOT"
BOT_ID = "B0NEXUS01"


@dataclass(frozen=True)
class Failure:
    """A scripted answer for one Web API call: ``status`` 429 is a rate limit, else ``error`` at 200."""

    status: int = 200
    error: str = "internal_error"
    retry_after: int | None = None


@dataclass
class SentMessage:
    channel: str
    ts: str
    text: str
    thread_ts: str | None
    sent_at: float = field(default_factory=time.monotonic)
    edits: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class _Event:
    event_id: str
    payload: dict[str, Any]
    pushed_at: float
    attempts: int = 0
    envelope_ids: list[str] = field(default_factory=list)
    delivered_at: float | None = None
    acked_at: float | None = None


@dataclass(eq=False)
class _Socket:
    ws: WebSocket
    wake: asyncio.Event
    deaf: bool = False
    closing: str | None = None


class FakeSlack(ThreadedFake):
    api_name = "fake-slack"
    websockets = True

    def __init__(
        self,
        app_token: str,
        bot_token: str,
        *,
        port: int = 0,
        redeliver_after_s: float = 3.0,
        max_sockets: int = 10,
        echo_own: bool = True,
    ) -> None:
        super().__init__(port=port)
        self.app_token = app_token
        self.bot_token = bot_token
        self.redeliver_after_s = redeliver_after_s
        self.max_sockets = max_sockets
        self.echo_own = echo_own
        self.link_disabled = False
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: dict[str, _Event] = {}
        self._by_envelope: dict[str, _Event] = {}
        self._sockets: list[_Socket] = []
        self._tickets: set[str] = set()
        self._sent: list[SentMessage] = []
        self._methods = MethodLog()
        self._ts = 0
        self.connections = 0
        """Sockets ever opened."""
        self.acks: list[tuple[str, float]] = []
        """(envelope_id, monotonic time) of every ack received."""
        self.pushed_at: dict[str, float] = {}
        """event_id -> monotonic time it was pushed (benchmarks)."""

    # ---- life cycle
    def build_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/{method}", self._endpoint, methods=["GET", "POST"]),
                WebSocketRoute("/link/", self._socket),
            ]
        )

    @property
    def base_url(self) -> str:
        """What ``[channels.slack] api_base`` should be set to."""
        assert self._server is not None, "use `with FakeSlack(...) as slack:`"
        return f"http://127.0.0.1:{self._server.port}"

    # ---- scripting
    def push_message(
        self,
        *,
        user: str,
        text: str,
        channel: str | None = None,
        channel_type: str = "im",
        client_msg_id: str | None = None,
        event_type: str = "message",
        extra: dict[str, Any] | None = None,
    ) -> str:
        """A person writes (to the app's DM by default, channel ``D<user>``); returns the event_id."""
        with self._lock:
            ts = self._next_ts()
        event: dict[str, Any] = {
            "type": event_type,
            "channel": channel or f"D{user[1:]}",
            "user": user,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "team": TEAM_ID,
            "client_msg_id": client_msg_id or secrets.token_hex(16),
        }
        if event_type == "message":
            event["channel_type"] = channel_type
        event.update(extra or {})
        return self.push_event(event)

    def push_mention(self, *, user: str, channel: str, text: str) -> tuple[str, str]:
        """A mention in a channel: Slack sends both a ``message`` and an ``app_mention`` event."""
        body = f"<@{BOT_USER_ID}> {text}"
        with self._lock:
            ts = self._next_ts()
        base = {"channel": channel, "user": user, "text": body, "ts": ts, "event_ts": ts, "team": TEAM_ID}
        cid = secrets.token_hex(16)
        first = self.push_event({"type": "message", "channel_type": "channel", "client_msg_id": cid, **base})
        second = self.push_event({"type": "app_mention", "client_msg_id": cid, **base})
        return first, second

    def push_event(self, event: dict[str, Any]) -> str:
        event_id = "Ev" + secrets.token_hex(5).upper()
        payload = {
            "token": "verification-token-unused",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True, "is_enterprise_install": False}
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + secrets.token_hex(8),
        }
        with self._lock:
            self._events[event_id] = _Event(event_id, payload, time.monotonic())
            self.pushed_at[event_id] = time.monotonic()
        self._kick()
        return event_id

    def fail_next(self, method: str, *failures: Failure) -> None:
        self._methods.script(method, list(failures))

    def disconnect(self, reason: str) -> None:
        """Send ``disconnect`` with ``reason`` on every open socket; each closes shortly after."""
        if reason == "link_disabled":
            self.link_disabled = True
        with self._lock:
            for sock in self._sockets:
                sock.closing = reason
        self._kick()

    def make_deaf(self) -> None:
        """The open sockets keep answering pings but deliver nothing more; new sockets work."""
        with self._lock:
            for sock in self._sockets:
                sock.deaf = True

    def drop_sockets(self) -> None:
        with self._lock:
            for sock in self._sockets:
                sock.closing = "drop"
        self._kick()

    # ---- observing
    def sent(self, channel: str | None = None) -> list[SentMessage]:
        with self._lock:
            return [m for m in self._sent if channel is None or m.channel == channel]

    def calls(self, method: str) -> int:
        return self._methods.count(method)

    def call_times(self, method: str) -> list[float]:
        """Monotonic arrival time of every call of ``method``."""
        return self._methods.times(method)

    def open_sockets(self) -> int:
        with self._lock:
            return len(self._sockets)

    def event(self, event_id: str) -> dict[str, Any]:
        """Delivery facts of one event: attempts, envelope ids, delivered_at, acked_at."""
        with self._lock:
            e = self._events[event_id]
            return {
                "attempts": e.attempts,
                "envelope_ids": list(e.envelope_ids),
                "delivered_at": e.delivered_at,
                "acked_at": e.acked_at,
            }

    def unacked(self) -> int:
        with self._lock:
            return sum(1 for e in self._events.values() if e.acked_at is None)

    # ---- the Web API
    async def _endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        try:
            params = await request_params(request)
        except ClientDisconnect:
            return Response(status_code=499)
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or str(
            params.get("token") or ""
        )
        failure: Failure | None = self._methods.arrive(method)
        if failure is not None:
            if failure.status == 429:
                return JSONResponse(
                    {"ok": False, "error": "ratelimited"},
                    status_code=429,
                    headers={"Retry-After": str(failure.retry_after or 1)},
                )
            return _error(failure.error, status=failure.status)
        if method == "apps.connections.open":
            if token == self.bot_token:
                return _error("not_allowed_token_type")
            if token != self.app_token:
                return _error("invalid_auth")
            ticket = secrets.token_hex(16)
            with self._lock:
                self._tickets.add(ticket)
            host = request.url.netloc
            return _ok({"url": f"ws://{host}/link/?ticket={ticket}&app_id={APP_ID}"})
        if token != self.bot_token:
            return _error("invalid_auth" if token else "not_authed")
        handler = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
        }.get(method)
        if handler is None:
            return _error("unknown_method")
        return handler(params)

    def _auth_test(self, params: dict[str, Any]) -> Response:
        return _ok(
            {
                "url": "https://nexus-test.slack.com/",
                "team": "Nexus Test",
                "user": "nexus",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        )

    def _post_message(self, params: dict[str, Any]) -> Response:
        channel = str(params.get("channel") or "")
        text = str(params.get("text") or "")
        if not channel:
            return _error("channel_not_found")
        if not text.strip():
            return _error("no_text")
        if len(text) > 40_000:
            return _error("msg_too_long")
        thread_ts = params.get("thread_ts") or None
        with self._lock:
            ts = self._next_ts()
            self._sent.append(SentMessage(channel, ts, text, thread_ts))
        message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "text": text, "ts": ts}
        if self.echo_own:
            self.push_event({**message, "channel": channel, "event_ts": ts, "channel_type": "channel"})
        return _ok({"channel": channel, "ts": ts, "message": message})

    def _update(self, params: dict[str, Any]) -> Response:
        channel, ts = str(params.get("channel") or ""), str(params.get("ts") or "")
        text = str(params.get("text") or "")
        with self._lock:
            target = next((m for m in self._sent if m.channel == channel and m.ts == ts), None)
            if target is None:
                return _error("message_not_found")
            if len(text) > 40_000:
                return _error("msg_too_long")
            target.text = text
            target.edits.append((time.monotonic(), text))
        return _ok({"channel": channel, "ts": ts, "text": text})

    # ---- the socket
    async def _socket(self, ws: WebSocket) -> None:
        ticket = ws.query_params.get("ticket", "")
        with self._lock:
            valid = ticket in self._tickets
            self._tickets.discard(ticket)
            self._loop = asyncio.get_running_loop()
        if not valid:
            await ws.close(code=1008)
            return
        await ws.accept()
        sock = _Socket(ws, asyncio.Event())
        with self._lock:
            too_many = len(self._sockets) >= self.max_sockets
            self._sockets.append(sock)
            self.connections += 1
            count = len(self._sockets)
        try:
            await ws.send_text(
                json.dumps(
                    {
                        "type": "hello",
                        "num_connections": count,
                        "debug_info": {
                            "host": "applink-fake-1",
                            "build_number": 118,
                            "approximate_connection_time": 18060,
                        },
                        "connection_info": {"app_id": APP_ID},
                    }
                )
            )
            if too_many:
                sock.closing = "too_many_websockets"
            elif self.link_disabled:
                sock.closing = "link_disabled"
            reader = asyncio.create_task(self._read(sock))
            try:
                await self._write(sock, reader)
            finally:
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            with self._lock:
                if sock in self._sockets:
                    self._sockets.remove(sock)
            with contextlib.suppress(Exception):
                await ws.close()

    async def _read(self, sock: _Socket) -> None:
        while True:
            raw = await sock.ws.receive_text()
            with contextlib.suppress(ValueError):
                body = json.loads(raw)
                envelope_id = body.get("envelope_id") if isinstance(body, dict) else None
                if envelope_id:
                    with self._lock:
                        self.acks.append((envelope_id, time.monotonic()))
                        event = self._by_envelope.get(envelope_id)
                        if event is not None and event.acked_at is None:
                            event.acked_at = time.monotonic()

    async def _write(self, sock: _Socket, reader: asyncio.Task[None]) -> None:
        stopping = self._server.stopping if self._server is not None else threading.Event()
        while not stopping.is_set() and not reader.done():
            if sock.closing is not None:
                if sock.closing != "drop":
                    await sock.ws.send_text(
                        json.dumps(
                            {
                                "type": "disconnect",
                                "reason": sock.closing,
                                "debug_info": {"host": "applink-1"},
                            }
                        )
                    )
                    await asyncio.sleep(0.2)  # Slack closes a few seconds later; the client moves first
                await sock.ws.close(code=1001 if sock.closing != "drop" else 1011)
                return
            for envelope in self._due(sock):
                await sock.ws.send_text(json.dumps(envelope))
            sock.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sock.wake.wait(), 0.05)

    def _due(self, sock: _Socket) -> list[dict[str, Any]]:
        if sock.deaf:
            return []
        now = time.monotonic()
        out = []
        with self._lock:
            for event in self._events.values():
                if event.acked_at is not None:
                    continue
                if event.delivered_at is not None and now - event.delivered_at < self.redeliver_after_s:
                    continue
                envelope_id = secrets.token_hex(8) + "-" + secrets.token_hex(4)
                envelope: dict[str, Any] = {
                    "envelope_id": envelope_id,
                    "payload": event.payload,
                    "type": "events_api",
                    "accepts_response_payload": False,
                    "retry_attempt": event.attempts,
                    "retry_reason": "timeout" if event.attempts else "",
                }
                event.attempts += 1
                event.envelope_ids.append(envelope_id)
                event.delivered_at = now
                self._by_envelope[envelope_id] = event
                out.append(envelope)
        return out

    def _kick(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with self._lock:
            wakes = [s.wake for s in self._sockets]
        for wake in wakes:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    def _next_ts(self) -> str:
        self._ts += 1
        return f"{int(time.time())}.{self._ts:06d}"


def _ok(body: dict[str, Any]) -> Response:
    return JSONResponse({"ok": True, **body})


def _error(error: str, *, status: int = 200) -> Response:
    return JSONResponse({"ok": False, "error": error}, status_code=status)
