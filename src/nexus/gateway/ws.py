"""The WebSocket endpoint: a versioned ``connect`` handshake, then requests and pushed events.

A connection receives events of the sessions it has touched (sent to, read, or subscribed) and
gateway-wide events (ticks, cooldowns, auth alerts). Requests are answered in order of arrival;
nothing a request does can block event delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from nexus import __version__
from nexus.common.secret import Secret
from nexus.errors import ProtocolError
from nexus.gateway.events import Overflow
from nexus.gateway.middleware import token_matches
from nexus.gateway.runtime import GatewayRuntime
from nexus.protocol import PROTOCOL_VERSION
from nexus.protocol.frames import EventFrame, FrameError, ResponseFrame, parse_frame
from nexus.protocol.messages import WS_FIELDS, InvalidInput, check_session, validate_message

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0


class RequestError(ProtocolError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Connection:
    def __init__(self, runtime: GatewayRuntime, ws: WebSocket) -> None:
        self.runtime = runtime
        self.ws = ws
        self.sessions: set[str] = set()
        self.seq = 0
        self.sub = runtime.bus.subscribe(lambda session: session is None or session in self.sessions)
        self._send_lock = asyncio.Lock()

    async def send_json(self, data: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.ws.send_json(data)

    async def respond(self, req_id: str, payload: dict[str, Any]) -> None:
        await self.send_json(ResponseFrame(id=req_id, ok=True, payload=payload).model_dump(exclude_none=True))

    async def respond_error(self, req_id: str, code: str, message: str) -> None:
        frame = ResponseFrame(id=req_id, ok=False, error={"code": code, "message": message})  # type: ignore[arg-type]
        await self.send_json(frame.model_dump(exclude_none=True))

    async def pump_events(self) -> None:
        while True:
            event = await self.sub.queue.get()
            if isinstance(event, Overflow):
                await self.ws.close(code=4008, reason="client too slow; reconnect and resync")
                return
            self.seq += 1
            frame = EventFrame(event=event.name, payload=event.payload(), seq=self.seq)
            await self.send_json(frame.model_dump())

    # -- methods ----------------------------------------------------------------------------------

    def _session_param(self, params: dict[str, Any]) -> str:
        return check_session(params.get("session"), WS_FIELDS.session)

    async def m_chat_send(self, params: dict[str, Any]) -> dict[str, Any]:
        message = validate_message(
            session=params.get("session"),
            text=params.get("text"),
            idempotency_key=params.get("idempotency_key"),
            fields=WS_FIELDS,
        )
        self.sessions.add(message.session)
        run, created = self.runtime.accept(
            session=message.session, text=message.text, channel="ws", idempotency_key=message.idempotency_key
        )
        return {
            "run_id": run.id,
            "status": run.status.value,
            "created": created,
            "ahead": self.runtime.store.ahead_of(run) if not run.status.finished else 0,
            "run": run.to_api(),
        }

    async def m_chat_history(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._session_param(params)
        limit = params.get("limit", 50)
        if not isinstance(limit, int) or not 1 <= limit <= 500:
            raise RequestError("bad_request", "params.limit must be an integer from 1 to 500")
        self.sessions.add(session)
        runs = self.runtime.store.session_runs(session, limit=limit)
        return {"session": session, "runs": [r.to_api() for r in runs]}

    async def m_chat_subscribe(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._session_param(params)
        self.sessions.add(session)
        return {"session": session}

    async def m_chat_abort(self, params: dict[str, Any]) -> dict[str, Any]:
        run_id = params.get("run_id")
        if not isinstance(run_id, str):
            raise RequestError("bad_request", "params.run_id must be a string")
        return {"run_id": run_id, "aborted": self.runtime.executor.abort(run_id)}

    async def m_run_get(self, params: dict[str, Any]) -> dict[str, Any]:
        run_id = params.get("run_id")
        if not isinstance(run_id, str):
            raise RequestError("bad_request", "params.run_id must be a string")
        run = self.runtime.store.get(run_id)
        if run is None:
            raise RequestError("not_found", f"no run {run_id}")
        self.sessions.add(run.session)
        body = run.to_api()
        body["ahead"] = self.runtime.store.ahead_of(run) if not run.status.finished else 0
        body["active"] = run_id in self.runtime.executor.active_runs
        return body

    async def m_status(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.runtime.status()

    async def m_models(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "chain": [str(r) for r in self.runtime.config.chain()],
            "candidates": self.runtime.candidates(),
        }

    def method(self, name: str) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None:
        return {
            "chat.send": self.m_chat_send,
            "chat.history": self.m_chat_history,
            "chat.subscribe": self.m_chat_subscribe,
            "chat.abort": self.m_chat_abort,
            "run.get": self.m_run_get,
            "status": self.m_status,
            "models.list": self.m_models,
        }.get(name)


async def websocket_endpoint(runtime: GatewayRuntime, ws: WebSocket, *, token: Secret) -> None:
    await ws.accept()
    conn = Connection(runtime, ws)
    pump: asyncio.Task[None] | None = None
    try:
        if not await _handshake(conn, ws, token):
            return
        pump = asyncio.create_task(conn.pump_events(), name="ws-events")
        while True:
            raw = await receive_text(ws)
            if raw is None:
                await conn.respond_error("?", "bad_frame", BINARY_REFUSED)
                continue
            try:
                frame = parse_frame(raw)
            except FrameError as exc:
                await conn.respond_error("?", "bad_frame", str(exc))
                continue
            handler = conn.method(frame.method)
            if handler is None:
                await conn.respond_error(frame.id, "unknown_method", f"no method {frame.method!r}")
                continue
            try:
                payload = await handler(frame.params)
            except RequestError as exc:
                await conn.respond_error(frame.id, exc.code, exc.message)
            except InvalidInput as exc:
                await conn.respond_error(frame.id, "bad_request", exc.message)
            except Exception as exc:
                log.exception("ws method %s failed", frame.method)
                await conn.respond_error(frame.id, "internal", f"{type(exc).__name__}: {exc}")
            else:
                await conn.respond(frame.id, payload)
    except WebSocketDisconnect:
        pass
    finally:
        runtime.bus.unsubscribe(conn.sub)
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump


BINARY_REFUSED = "binary frames are not part of the protocol: send each request as a JSON text frame"


async def receive_text(ws: WebSocket) -> str | None:
    """The next text frame; None for a binary one (refused, the connection goes on)."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    return text if isinstance(text, str) else None


async def _handshake(conn: Connection, ws: WebSocket, token: Secret) -> bool:
    try:
        raw = await asyncio.wait_for(receive_text(ws), CONNECT_TIMEOUT_S)
    except TimeoutError:
        await ws.close(code=4000, reason="no connect frame")
        return False
    if raw is None:
        await ws.close(code=4000, reason="binary frame; the first frame must be a JSON connect request")
        return False
    try:
        frame = parse_frame(raw)
    except FrameError as exc:
        await ws.close(code=4000, reason=str(exc)[:120])
        return False
    if frame.method != "connect":
        await conn.respond_error(frame.id, "handshake_required", "the first request must be 'connect'")
        await ws.close(code=4000, reason="handshake required")
        return False
    version = frame.params.get("protocol")
    if version != PROTOCOL_VERSION:
        await conn.respond_error(
            frame.id,
            "protocol_mismatch",
            f"gateway speaks protocol {PROTOCOL_VERSION}, client asked for {version!r}: upgrade the client",
        )
        await ws.close(code=4002, reason="protocol mismatch")
        return False
    authenticated = bool(ws.scope.get("state", {}).get("authenticated"))
    if not authenticated and not token_matches(token, frame.params.get("token")):
        await conn.respond_error(
            frame.id, "unauthorized", "missing or wrong gateway token (see `nexus token`)"
        )
        await ws.close(code=4001, reason="unauthorized")
        return False
    await conn.respond(
        frame.id,
        {
            "protocol": PROTOCOL_VERSION,
            "server": {"name": "nexus", "version": __version__, "pid": os.getpid()},
        },
    )
    return True
