"""A protocol-faithful fake of Discord's REST API (v10) and gateway on 127.0.0.1, for discord.py.

REST under ``/api/v10`` (https://docs.discord.com/developers/reference), as Discord answers it:
``Content-Type: application/json`` exactly (discord.py parses nothing else), the ``X-RateLimit-*``
headers on every answer, and a 429 with ``{message, retry_after, global}``, ``Retry-After``,
``X-RateLimit-Scope`` and ``Via`` (without ``Via`` discord.py takes a 429 for a Cloudflare ban).
Served: ``GET /users/@me``, ``/oauth2/applications/@me``, ``/gateway``, ``/gateway/bot``,
``POST/GET /channels/{id}/messages`` (``nonce`` + ``enforce_nonce`` return the message already created
with that nonce; ``?after=`` for backfill), ``PATCH /channels/{id}/messages/{mid}``, typing, and
``POST /users/@me/channels`` (open a DM). A wrong token is ``401``.

The gateway (``/gateway``): HELLO (op 10), heartbeats (op 1) answered with ACK (op 11), IDENTIFY (op 2)
-> READY with ``session_id`` and ``resume_gateway_url``; RESUME (op 6) replays the session's events
after ``seq`` then RESUMED, or answers op 9 when the session is unknown; ``zlib-stream`` (one zlib
context per connection, every message flushed with ``Z_SYNC_FLUSH``, binary frames) when asked,
plain text frames otherwise; client frames accepted as text or binary. Close codes 4004 (bad token)
and 4014 (MESSAGE_CONTENT not enabled for the app). Switches: :meth:`reconnect` (op 7),
:meth:`invalidate` (op 9), :meth:`drop_sockets`, ``ack_silence``, ``break_resumes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from nexus.fakes._server import ThreadedFake

DISCORD_EPOCH_MS = 1_420_070_400_000
APPLICATION_ID = 1_200_000_000_000_000_001
MESSAGE_CONTENT = 1 << 15


@dataclass(frozen=True)
class Failure:
    """A scripted REST answer: 429 (with ``retry_after``) or another status with a JSON error."""

    status: int = 429
    retry_after: float = 1.0
    message: str = "You are being rate limited."
    code: int = 0


@dataclass
class SentMessage:
    channel_id: str
    id: str
    text: str
    nonce: str | None
    reply_to: str | None
    sent_at: float = field(default_factory=time.monotonic)
    edits: list[tuple[float, str]] = field(default_factory=list)


@dataclass(eq=False)
class _Session:
    id: str
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    resumable: bool = True


@dataclass(eq=False)
class _Conn:
    ws: WebSocket
    zlib_stream: bool
    wake: asyncio.Event
    compressor: Any = None
    session: _Session | None = None
    closing: tuple[str, Any] | None = None


class FakeDiscord(ThreadedFake):
    api_name = "fake-discord"
    websockets = True

    def __init__(
        self, token: str, *, port: int = 0, heartbeat_interval_ms: int = 41_250, message_content: bool = True
    ) -> None:
        super().__init__(port=port)
        self.token = token
        self.bot_id = str(1_100_000_000_000_000_000 + secrets.randbelow(10**9))
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.message_content_enabled = message_content
        self.ack_silence = False
        self.token_for_gateway_only: str | None = None
        """When set, IDENTIFY expects this token instead (a token REST accepts and the gateway refuses)."""
        self.break_resumes = False
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conns: list[_Conn] = []
        self._sessions: dict[str, _Session] = {}
        self._history: dict[str, list[dict[str, Any]]] = {}
        self._sent: list[SentMessage] = []
        self._failures: dict[str, list[Failure]] = {}
        self._calls: dict[str, int] = {}
        self._counter = 0
        self.identifies = 0
        self.resumes = 0
        self.connections = 0
        self.zlib_connections = 0
        """Sockets that asked for ``compress=zlib-stream`` (served as binary frames)."""
        self.close_codes: list[int] = []
        self.pushed_at: dict[str, float] = {}

    # ---- life cycle
    def build_app(self) -> Starlette:
        return Starlette(
            routes=[
                WebSocketRoute("/gateway", self._gateway),
                Route("/api/v10/{path:path}", self._rest, methods=["GET", "POST", "PATCH", "DELETE", "PUT"]),
            ]
        )

    @property
    def base_url(self) -> str:
        assert self._server is not None, "use `with FakeDiscord(token) as discord:`"
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def api_base(self) -> str:
        """What ``[channels.discord] api_base`` should be."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """What ``[channels.discord] gateway_url`` should be."""
        return f"ws://127.0.0.1:{self._server.port if self._server else 0}/gateway"

    # ---- scripting
    def dm_channel(self, user_id: str) -> str:
        return str(int(user_id) + 7)

    def push_message(
        self,
        *,
        user_id: str,
        text: str,
        channel_id: str | None = None,
        guild_id: str | None = None,
        mention: bool = False,
    ) -> str:
        """A person writes (a DM unless ``guild_id``); returns the message id."""
        channel = channel_id or self.dm_channel(user_id)
        author = _user(user_id, f"user{user_id[-4:]}", bot=False)
        content = f"<@{self.bot_id}> {text}" if mention else text
        if guild_id is not None and not mention and not self.message_content_enabled:
            content = ""  # without the intent, guild messages arrive empty unless they mention the bot
        with self._lock:
            message = self._message(channel, author, content, guild_id=guild_id)
            if mention:
                message["mentions"] = [_user(self.bot_id, "nexus", bot=True)]
            self.pushed_at[message["id"]] = time.monotonic()
        self._dispatch("MESSAGE_CREATE", message)
        return str(message["id"])

    def fail_next(self, route: str, *failures: Failure) -> None:
        """``route`` like ``"POST /channels/{id}/messages"`` (ids replaced by ``{id}``)."""
        with self._lock:
            self._failures.setdefault(route, []).extend(failures)

    def reconnect(self) -> None:
        self._close_all(("op", {"op": 7, "d": None}))

    def invalidate(self, *, resumable: bool) -> None:
        with self._lock:
            if not resumable:
                for session in self._sessions.values():
                    session.resumable = False
        self._close_all(("op", {"op": 9, "d": resumable}))

    def drop_sockets(self, code: int = 1011) -> None:
        self._close_all(("close", code))

    # ---- observing
    def sent(self, channel_id: str | None = None) -> list[SentMessage]:
        with self._lock:
            return [m for m in self._sent if channel_id is None or m.channel_id == channel_id]

    def calls(self, route: str) -> int:
        with self._lock:
            return self._calls.get(route, 0)

    def open_sockets(self) -> int:
        with self._lock:
            return len(self._conns)

    # ---- REST
    async def _rest(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        route = f"{request.method} " + "/".join("{id}" if p.isdigit() else p for p in path.split("/"))
        with self._lock:
            self._calls[route] = self._calls.get(route, 0) + 1
            queue = self._failures.get(route)
            failure = queue.pop(0) if queue else None
        if request.headers.get("authorization") != f"Bot {self.token}":
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        if failure is not None:
            if failure.status == 429:
                return _json(
                    {"message": failure.message, "retry_after": failure.retry_after, "global": False},
                    429,
                    {
                        "Retry-After": str(max(1, round(failure.retry_after))),
                        "X-RateLimit-Limit": "5",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": f"{time.time() + failure.retry_after:.3f}",
                        "X-RateLimit-Reset-After": f"{failure.retry_after:.3f}",
                        "X-RateLimit-Bucket": "fake-bucket-" + route.split(" ")[0].lower(),
                        "X-RateLimit-Scope": "user",
                        "Via": "1.1 google",
                    },
                )
            return _json({"message": failure.message, "code": failure.code}, failure.status)
        body: Any = None
        if request.method in ("POST", "PATCH", "PUT"):
            raw = await request.body()
            body = json.loads(raw) if raw else {}
        parts = path.strip("/").split("/")
        return self._answer(request, parts, body)

    def _answer(self, request: Request, parts: list[str], body: Any) -> Response:
        method = request.method
        if parts == ["users", "@me"] and method == "GET":
            return _json({**_user(self.bot_id, "nexus", bot=True), "mfa_enabled": False, "verified": True})
        if parts == ["oauth2", "applications", "@me"]:
            return _json(
                {
                    "id": str(APPLICATION_ID),
                    "name": "Nexus Test",
                    "icon": None,
                    "description": "",
                    "bot_public": True,
                    "bot_require_code_grant": False,
                    "owner": _user("1000000000000000001", "owner", bot=False),
                    "verify_key": "0" * 64,
                    "flags": 0,
                    "team": None,
                    "summary": "",
                }
            )
        if parts[0] == "gateway":
            return _json(
                {
                    "url": self.gateway_url.removesuffix("/gateway") + "/gateway",
                    "shards": 1,
                    "session_start_limit": {
                        "total": 1000,
                        "remaining": 999,
                        "reset_after": 0,
                        "max_concurrency": 1,
                    },
                }
            )
        if parts == ["users", "@me", "channels"] and method == "POST":
            user_id = str(body.get("recipient_id"))
            return _json(
                {
                    "id": self.dm_channel(user_id),
                    "type": 1,
                    "last_message_id": None,
                    "recipients": [_user(user_id, "user", bot=False)],
                }
            )
        if len(parts) >= 3 and parts[0] == "channels" and parts[2] == "messages":
            channel = parts[1]
            if len(parts) == 3 and method == "POST":
                return self._create(channel, body)
            if len(parts) == 3 and method == "GET":
                return self._list(channel, request)
            if len(parts) == 4 and method == "PATCH":
                return self._edit(channel, parts[3], body)
        if len(parts) == 3 and parts[0] == "channels" and parts[2] == "typing":
            return Response(status_code=204, headers=_bucket_headers())
        return _json({"message": "404: Not Found", "code": 0}, 404)

    def _create(self, channel: str, body: dict[str, Any]) -> Response:
        text = str(body.get("content") or "")
        if not text.strip():
            return _json({"message": "Cannot send an empty message", "code": 50006}, 400)
        if len(text) > 2000:
            return _json({"message": "Invalid Form Body", "code": 50035}, 400)
        nonce = body.get("nonce")
        nonce = str(nonce) if nonce is not None else None
        with self._lock:
            if nonce is not None and body.get("enforce_nonce"):
                for sent in self._sent:
                    if sent.channel_id == channel and sent.nonce == nonce:
                        existing = next(m for m in self._history[channel] if m["id"] == sent.id)
                        return _json(existing)
            reference = body.get("message_reference") or {}
            reply_to = str(reference["message_id"]) if reference.get("message_id") else None
            message = self._message(channel, _user(self.bot_id, "nexus", bot=True), text, nonce=nonce)
            self._sent.append(SentMessage(channel, message["id"], text, nonce, reply_to))
        self._dispatch("MESSAGE_CREATE", message)
        return _json(message)

    def _edit(self, channel: str, message_id: str, body: dict[str, Any]) -> Response:
        text = str(body.get("content") or "")
        with self._lock:
            target = next((m for m in self._sent if m.channel_id == channel and m.id == message_id), None)
            if target is None:
                return _json({"message": "Unknown Message", "code": 10008}, 404)
            target.text = text
            target.edits.append((time.monotonic(), text))
            stored = next(m for m in self._history[channel] if m["id"] == message_id)
            stored["content"] = text
            stored["edited_timestamp"] = _now_iso()
            return _json(dict(stored))

    def _list(self, channel: str, request: Request) -> Response:
        after = int(request.query_params.get("after") or 0)
        limit = min(int(request.query_params.get("limit") or 50), 100)
        with self._lock:
            newer = [m for m in self._history.get(channel, []) if int(m["id"]) > after]
        return _json(list(reversed(newer[:limit])))  # newest first, as Discord lists them

    # ---- gateway
    async def _gateway(self, ws: WebSocket) -> None:
        await ws.accept()
        conn = _Conn(ws, ws.query_params.get("compress") == "zlib-stream", asyncio.Event())
        if conn.zlib_stream:
            conn.compressor = zlib.compressobj()
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._conns.append(conn)
            self.connections += 1
            self.zlib_connections += conn.zlib_stream
        reader = asyncio.create_task(self._read(conn))
        try:
            await self._send(conn, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
            await self._write(conn, reader)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
            with self._lock:
                if conn in self._conns:
                    self._conns.remove(conn)
            with contextlib.suppress(Exception):
                await ws.close()

    async def _write(self, conn: _Conn, reader: asyncio.Task[None]) -> None:
        stopping = self._server.stopping if self._server is not None else threading.Event()
        while not stopping.is_set() and not reader.done():
            if conn.closing is not None:
                kind, value = conn.closing
                if kind == "op":
                    await self._send(conn, value)
                    await asyncio.sleep(0.05)
                    code = 4000 if value["op"] == 7 else 4009 if value["d"] is False else 4000
                else:
                    code = int(value)
                self.close_codes.append(code)
                await conn.ws.close(code=code)
                return
            conn.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(conn.wake.wait(), 0.05)

    async def _read(self, conn: _Conn) -> None:
        while True:
            message = await conn.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text") or message.get("bytes") or b""
            try:
                frame = json.loads(raw)
            except ValueError:
                await self._close(conn, 4002)  # decode error
                return
            op = frame.get("op")
            if op == 1:
                if not self.ack_silence:
                    await self._send(conn, {"op": 11})
            elif op == 2:
                await self._identify(conn, frame.get("d") or {})
            elif op == 6:
                await self._resume(conn, frame.get("d") or {})

    async def _identify(self, conn: _Conn, data: dict[str, Any]) -> None:
        if data.get("token") != (self.token_for_gateway_only or self.token):
            await self._close(conn, 4004)
            return
        if int(data.get("intents") or 0) & MESSAGE_CONTENT and not self.message_content_enabled:
            await self._close(conn, 4014)
            return
        session = _Session(secrets.token_hex(16))
        with self._lock:
            self.identifies += 1
            self._sessions[session.id] = session
            conn.session = session
        ready = {
            "v": 10,
            "user": {**_user(self.bot_id, "nexus", bot=True), "mfa_enabled": False, "verified": True},
            "guilds": [],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "application": {"id": str(APPLICATION_ID), "flags": 0},
            "_trace": ["fake-gateway"],
        }
        await self._dispatch_to(conn, session, "READY", ready)

    async def _resume(self, conn: _Conn, data: dict[str, Any]) -> None:
        with self._lock:
            self.resumes += 1
            session = self._sessions.get(str(data.get("session_id")))
        if self.break_resumes:
            await self._close(conn, 1011)
            return
        if data.get("token") != self.token:
            await self._close(conn, 4004)
            return
        if session is None or not session.resumable or data.get("seq") is None:
            await self._send(conn, {"op": 9, "d": False})
            return
        seq = int(data["seq"])
        with self._lock:
            missed = [e for e in session.events if e["s"] > seq]
            conn.session = session
        for frame in missed:
            await self._send(conn, frame)
        await self._dispatch_to(conn, session, "RESUMED", {"_trace": ["fake-gateway"]})

    async def _dispatch_to(self, conn: _Conn, session: _Session, name: str, data: Any) -> None:
        with self._lock:
            session.seq += 1
            frame = {"op": 0, "t": name, "s": session.seq, "d": data}
            session.events.append(frame)
        await self._send(conn, frame)

    def _dispatch(self, name: str, data: dict[str, Any]) -> None:
        """Record the event in every live session; a connected one gets it at once, an interrupted one
        on RESUME. With no session at all (the bot is offline), only REST history keeps it."""
        with self._lock:
            targets = []
            for session in self._sessions.values():
                if not session.resumable:
                    continue
                session.seq += 1
                frame = {"op": 0, "t": name, "s": session.seq, "d": data}
                session.events.append(frame)
                for conn in self._conns:
                    if conn.session is session and conn.closing is None:
                        targets.append((conn, frame))
            loop = self._loop
        if loop is None or loop.is_closed():
            return
        for conn, frame in targets:
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(self._send_quiet(conn, frame), loop)

    async def _send_quiet(self, conn: _Conn, frame: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            await self._send(conn, frame)

    async def _send(self, conn: _Conn, frame: dict[str, Any]) -> None:
        data = json.dumps(frame, separators=(",", ":"))
        if conn.zlib_stream:
            payload = conn.compressor.compress(data.encode()) + conn.compressor.flush(zlib.Z_SYNC_FLUSH)
            await conn.ws.send_bytes(payload)
        else:
            await conn.ws.send_text(data)

    async def _close(self, conn: _Conn, code: int) -> None:
        self.close_codes.append(code)
        with contextlib.suppress(Exception):
            await conn.ws.close(code=code)

    def _close_all(self, how: tuple[str, Any]) -> None:
        with self._lock:
            conns = list(self._conns)
            for conn in conns:
                conn.closing = how
            loop = self._loop
        if loop is not None and not loop.is_closed():
            for conn in conns:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(conn.wake.set)

    # ---- helpers
    def _message(
        self,
        channel: str,
        author: dict[str, Any],
        content: str,
        *,
        guild_id: str | None = None,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        self._counter += 1
        snowflake = ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) + (self._counter % 4096)
        message: dict[str, Any] = {
            "id": str(snowflake),
            "channel_id": channel,
            "author": author,
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
        }
        if nonce is not None:
            message["nonce"] = nonce
        if guild_id is not None:
            message["guild_id"] = guild_id
            message["member"] = {
                "roles": [],
                "joined_at": _now_iso(),
                "deaf": False,
                "mute": False,
                "flags": 0,
            }
        self._history.setdefault(channel, []).append(message)
        return message


def _user(user_id: str, name: str, *, bot: bool) -> dict[str, Any]:
    return {
        "id": user_id,
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
    }


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _bucket_headers() -> dict[str, str]:
    return {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "4",
        "X-RateLimit-Reset": f"{time.time() + 5:.3f}",
        "X-RateLimit-Reset-After": "5.000",
        "X-RateLimit-Bucket": "fake-bucket",
    }


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body),
        status_code=status,
        headers={**_bucket_headers(), **(headers or {})},
        media_type="application/json",
    )
