"""One WebSocket connection to the gateway: handshake, requests by id, and a stream of events.

A reader task owns the socket's receiving side: it resolves the future of each response by its id
and queues events, checking ``seq`` so a lost event becomes a :class:`SeqGap` the caller can resync
on. When the socket closes, every waiting request and the event stream raise
:class:`~nexus.client.errors.ConnectionLost` (or ``Unauthorized``/``ProtocolMismatch`` when the close
code says so). Reconnecting is the caller's job (:mod:`nexus.client.chat`): a connection is one life.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from nexus.client.endpoint import Endpoint
from nexus.client.errors import (
    ClientError,
    ConnectionLost,
    GatewayNotRunning,
    ProtocolMismatch,
    RequestFailed,
    Unauthorized,
)
from nexus.protocol.events import Event, decode
from nexus.protocol.frames import PROTOCOL_VERSION

OPEN_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 15.0
MAX_FRAME = 16 * 1024 * 1024

NO_TOKEN_HELP = (
    "no gateway token found: start the gateway once with `nexus up` (it creates "
    "$NEXUS_HOME/gateway.token), or set NEXUS_GATEWAY_TOKEN"
)
WRONG_TOKEN_HELP = (
    "the gateway refused the token: check that NEXUS_HOME points at the gateway's home "
    "(`nexus token` prints the token it expects) or that NEXUS_GATEWAY_TOKEN matches it"
)


@dataclass(frozen=True)
class GatewayEvent:
    """An event frame as it arrived; :attr:`event` is its typed value (None: unknown to this client)."""

    name: str
    payload: dict[str, Any]
    seq: int

    @cached_property
    def event(self) -> Event | None:
        return decode(self.name, self.payload)


@dataclass(frozen=True)
class SeqGap:
    """Events ``expected`` .. ``got - 1`` never arrived: resync state from the gateway."""

    expected: int
    got: int


Incoming = GatewayEvent | SeqGap


class _Closed:
    def __init__(self, error: ClientError) -> None:
        self.error = error


class Connection:
    """Use :meth:`open`; ``async with`` closes it."""

    def __init__(self, ws: ClientConnection, *, endpoint: Endpoint) -> None:
        self._ws = ws
        self._endpoint = endpoint
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._events: asyncio.Queue[Incoming | _Closed] = asyncio.Queue()
        self._last_seq = 0
        self._closed: ClientError | None = None
        self._reader = asyncio.create_task(self._read(), name="gateway-reader")
        self.server: dict[str, Any] = {}

    @classmethod
    async def open(
        cls,
        endpoint: Endpoint,
        *,
        client_name: str = "nexus-client",
        open_timeout: float = OPEN_TIMEOUT_S,
        protocol: int = PROTOCOL_VERSION,
    ) -> Connection:
        """Connect and shake hands; raise GatewayNotRunning, Unauthorized, ProtocolMismatch or ConnectionLost."""
        try:
            ws = await connect(
                endpoint.ws_url,
                open_timeout=open_timeout,
                proxy=None,  # never route the local gateway through an environment proxy
                max_size=MAX_FRAME,
                ping_interval=10,
                ping_timeout=10,
                close_timeout=2,
                user_agent_header=f"nexus/{client_name}",
            )
        except ConnectionRefusedError as exc:
            raise GatewayNotRunning(endpoint.address) from exc
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise Unauthorized(
                    f"the gateway refused the WebSocket upgrade ({status}): {WRONG_TOKEN_HELP}"
                ) from exc
            raise ConnectionLost(f"the gateway refused the WebSocket upgrade with HTTP {status}") from exc
        except InvalidURI as exc:
            raise ClientError(f"bad gateway address {endpoint.base_url!r}: use http://HOST:PORT") from exc
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise ConnectionLost(f"cannot reach the gateway at {endpoint.address}: {_describe(exc)}") from exc
        conn = cls(ws, endpoint=endpoint)
        params: dict[str, Any] = {"protocol": protocol, "client": {"name": client_name}}
        if endpoint.token is not None:
            params["token"] = endpoint.token.reveal()
        try:
            conn.server = await conn.request("connect", params, timeout=open_timeout)
        except RequestFailed as exc:
            await conn.close()
            if exc.code == "unauthorized":
                raise Unauthorized(NO_TOKEN_HELP if endpoint.token is None else WRONG_TOKEN_HELP) from exc
            if exc.code == "protocol_mismatch":
                raise ProtocolMismatch(exc.message) from exc
            raise ConnectionLost(f"the gateway refused the handshake: {exc}") from exc
        except BaseException:
            await conn.close()
            raise
        return conn

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed is not None

    async def request(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float = REQUEST_TIMEOUT_S
    ) -> dict[str, Any]:
        """Send one request and wait for its response's payload (RequestFailed on ``ok: false``)."""
        if self._closed is not None:
            raise self._closed
        req_id = str(next(self._ids))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[req_id] = future
        frame = {"type": "req", "id": req_id, "method": method, "params": params or {}}
        try:
            try:
                await self._ws.send(json.dumps(frame))
            except ConnectionClosed as exc:
                raise self._close_error(exc) from exc
            try:
                return await asyncio.wait_for(asyncio.shield(future), timeout)
            except TimeoutError as exc:
                await self.close()
                raise ConnectionLost(f"no answer to {method} within {timeout:g}s; reconnecting") from exc
        finally:
            self._waiting.pop(req_id, None)

    async def next_event(self, timeout: float | None = None) -> Incoming | None:
        """The next event or gap; None when ``timeout`` passes first; ConnectionLost once closed."""
        try:
            item = await asyncio.wait_for(self._events.get(), timeout)
        except TimeoutError:
            return None
        if isinstance(item, _Closed):
            self._events.put_nowait(item)  # every later call raises too
            raise item.error
        return item

    async def events(self) -> Any:
        """``async for incoming in conn.events()`` until the connection closes (ConnectionLost)."""
        while True:
            item = await self.next_event()
            assert item is not None
            yield item

    async def close(self) -> None:
        try:
            await self._close()
        finally:
            self._abort()

    async def _close(self) -> None:
        if not self._reader.done():
            with contextlib.suppress(Exception):
                await self._ws.close()
        await asyncio.wait({self._reader}, timeout=3)
        if not self._reader.done():
            self._reader.cancel()
            await asyncio.wait({self._reader})
        self._finish(ConnectionLost("the connection was closed by the client"))

    def _abort(self) -> None:
        """Drop the socket for sure (a no-op after a clean close), even when the close was cancelled."""
        transport = getattr(self._ws, "transport", None)
        if transport is not None and not transport.is_closing():
            transport.abort()

    # -- reading ----------------------------------------------------------------------------------

    async def _read(self) -> None:
        error: ClientError = ConnectionLost("the gateway closed the connection")
        try:
            async for raw in self._ws:
                self._dispatch(raw)
        except ConnectionClosed as exc:
            error = self._close_error(exc)
        except Exception as exc:  # a malformed frame means we no longer trust this connection
            error = ConnectionLost(f"bad frame from the gateway: {_describe(exc)}")
            with contextlib.suppress(Exception):
                await self._ws.close()
        else:
            if self._ws.close_code is not None:
                error = self._close_error(None)
        finally:
            self._finish(error)

    def _dispatch(self, raw: str | bytes) -> None:
        frame = json.loads(raw)
        kind = frame.get("type")
        if kind == "res":
            future = self._waiting.get(str(frame.get("id")))
            if future is None or future.done():
                return
            if frame.get("ok"):
                future.set_result(dict(frame.get("payload") or {}))
            else:
                err = frame.get("error") or {}
                future.set_exception(
                    RequestFailed(str(err.get("code", "error")), str(err.get("message", "")))
                )
        elif kind == "event":
            seq = int(frame.get("seq", 0))
            if seq != self._last_seq + 1:
                self._events.put_nowait(SeqGap(expected=self._last_seq + 1, got=seq))
            self._last_seq = seq
            payload = frame.get("payload")
            self._events.put_nowait(
                GatewayEvent(str(frame.get("event")), payload if isinstance(payload, dict) else {}, seq)
            )

    def _close_error(self, exc: ConnectionClosed | None) -> ClientError:
        code = self._ws.close_code
        reason = self._ws.close_reason or ""
        if code == 4001:
            return Unauthorized(WRONG_TOKEN_HELP)
        if code == 4002:
            return ProtocolMismatch(f"the gateway closed the connection: {reason or 'protocol mismatch'}")
        if code == 4008:
            return ConnectionLost("the gateway dropped this client for reading events too slowly; resyncing")
        detail = f" (code {code}{': ' + reason if reason else ''})" if code else ""
        return ConnectionLost(f"the connection to the gateway was lost{detail}")

    def _finish(self, error: ClientError) -> None:
        if self._closed is not None:
            return
        self._closed = error
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(error)
                future.exception()  # mark retrieved: a waiter may already be gone
        self._events.put_nowait(_Closed(error))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
