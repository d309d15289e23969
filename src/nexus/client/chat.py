"""A chat session that survives gateway restarts: the engine under ``nexus chat`` (TUI and plain).

Why it is shaped like this: in the incident the terminal UI waited forever on a gateway that could
not answer. Here every wait has a bound (:mod:`nexus.client.deadlines`), every lost connection is
retried with backoff (:mod:`nexus.client.backoff`), and nothing is sent twice: each message carries a
client-generated ``idempotency_key``, and after a reconnect (or an event gap) the engine resends
unacknowledged messages with the same key and re-reads unfinished runs with ``run.get``. Runs are
durable in the gateway, so the answer still arrives once.

The engine owns I/O only; what it knows lives in an immutable :class:`~nexus.client.state.ChatState`
that it hands to ``on_change`` after every transition.
"""

from __future__ import annotations

import asyncio
import math
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from nexus.client import state as st
from nexus.client.backoff import Backoff
from nexus.client.connection import Connection, GatewayEvent, SeqGap
from nexus.client.deadlines import Action, Deadlines
from nexus.client.endpoint import Endpoint
from nexus.client.errors import ClientError, ConnectionLost, ProtocolMismatch, RequestFailed, Unauthorized
from nexus.common.clock import Clock, SystemClock

STABLE_AFTER_S = 5.0
"""A connection that lasted this long resets the reconnect backoff."""

Connector = Callable[[Endpoint], Awaitable[Connection]]


async def _open(endpoint: Endpoint) -> Connection:
    return await Connection.open(endpoint, client_name="nexus-chat")


class ChatEngine:
    def __init__(
        self,
        endpoint: Endpoint,
        *,
        session: str,
        deadlines: Deadlines = Deadlines(),
        backoff: Backoff = Backoff(),
        clock: Clock | None = None,
        connector: Connector = _open,
        on_change: Callable[[st.ChatState], None] = lambda _state: None,
        history_limit: int = 20,
        new_key: Callable[[], str] = lambda: uuid.uuid4().hex,
        rand: Callable[[], float] = random.random,
        give_up_if_not_running: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.deadlines = deadlines
        self._backoff = backoff
        self._clock = clock or SystemClock()
        self._connector = connector
        self.on_change = on_change
        """Called with each new state; a UI may replace it once it is ready to render."""
        self._history_limit = history_limit
        self._new_key = new_key
        self._rand = rand
        self._give_up_if_not_running = give_up_if_not_running
        self._state = st.ChatState(session=session)
        self._conn: Connection | None = None
        self._outbox: dict[str, str] = {}
        """Messages not yet acknowledged by the gateway: key -> text (resent with the same key)."""
        self._ever_connected = False
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- what the UI reads and calls --------------------------------------------------------------

    @property
    def state(self) -> st.ChatState:
        return self._state

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    async def send(self, text: str) -> str:
        """Show the message at once and deliver it (now, or after the next reconnect); returns its key."""
        key = self._new_key()
        self._set(st.sending(self._state, key, text, self._clock.monotonic()))
        self._outbox[key] = text
        self._wake.set()  # the loop delivers it, so one task alone talks chat.send for a key
        return key

    async def abort(self) -> bool:
        """Abort the current run (``Esc``); False when nothing is running or the link is down."""
        current = self._state.current
        conn = self._conn
        if current is None or current.finished or conn is None or conn.closed:
            return False
        if current.run_id is None:
            self._outbox.pop(current.key, None)
            self._set(
                st.abandoned(
                    self._state,
                    current.key,
                    "cancelled before the gateway acknowledged it",
                    self._clock.monotonic(),
                )
            )
            return True
        try:
            payload = await conn.request("chat.abort", {"run_id": current.run_id})
        except ClientError:
            return False
        return bool(payload.get("aborted"))

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A one-off request (``status``, ``models.list``); ConnectionLost when the link is down."""
        conn = self._conn
        if conn is None or conn.closed:
            raise ConnectionLost("not connected to the gateway right now; the status line shows why")
        return await conn.request(method, params)

    def new_session(self, session: str) -> None:
        """Switch to another session (``/new``): later messages and history belong to it."""
        self._outbox.clear()
        self._set(st.ChatState(session=session, link=self._state.link, attempt=self._state.attempt))
        self._wake.set()

    async def wait_until(self, predicate: Callable[[st.ChatState], bool]) -> st.ChatState:
        """Return once ``predicate(state)`` holds; callers bound this with their own timeout."""
        while not predicate(self._state):
            self._changed.clear()
            await self._changed.wait()
        return self._state

    # -- the loop -----------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop :meth:`run` (wherever it is awaited) and close the connection; safe to call twice."""
        task, self._task = self._task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait({task}, timeout=5)  # never raises: our own cancellation stays ours
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def run(self) -> None:
        """Connect, serve, reconnect; until cancelled or the link fails for good (raises then)."""
        self._task = asyncio.current_task()
        attempt = 0
        while True:
            try:
                conn = await self._connector(self.endpoint)
            except (Unauthorized, ProtocolMismatch) as exc:
                self._set(st.set_link(self._state, st.Link.FAILED, detail=str(exc)))
                raise
            except ClientError as exc:
                attempt += 1
                link = st.Link.RECONNECTING if self._ever_connected else st.Link.NOT_RUNNING
                self._set(st.set_link(self._state, link, attempt=attempt, detail=str(exc)))
                if self._give_up_if_not_running and not self._ever_connected:
                    raise
                await self._pause(self._backoff.delay(attempt, rand=self._rand))
                continue
            connected_at = self._clock.monotonic()
            try:
                await self._serve(conn)
            except (Unauthorized, ProtocolMismatch) as exc:
                self._set(st.set_link(self._state, st.Link.FAILED, detail=str(exc)))
                raise
            except (ConnectionLost, RequestFailed) as exc:
                # a connection that held for a while starts the count afresh; one that drops at once
                # (a gateway in a crash loop) keeps backing off instead of spinning
                stable = self._clock.monotonic() - connected_at >= STABLE_AFTER_S
                attempt = 1 if stable else attempt + 1
                self._set(st.set_link(self._state, st.Link.RECONNECTING, attempt=attempt, detail=str(exc)))
                if not stable:
                    await self._pause(self._backoff.delay(attempt, rand=self._rand))
            except Exception as exc:
                detail = (
                    f"the chat client stopped on an internal error ({type(exc).__name__}: {exc}); restart it"
                )
                self._set(st.set_link(self._state, st.Link.FAILED, detail=detail))
                raise
            finally:
                self._conn = None
                await conn.close()

    async def _serve(self, conn: Connection) -> None:
        first = not self._ever_connected
        self._conn = conn
        self._ever_connected = True
        session = self._state.session
        if first:
            body = await conn.request("chat.history", {"session": session, "limit": self._history_limit})
            self._set(st.history(self._state, list(body.get("runs") or []), self._clock.monotonic()))
        else:
            await conn.request("chat.subscribe", {"session": session})
        self._set(st.set_link(self._state, st.Link.CONNECTED, detail=str(conn.server.get("server", ""))))
        await self._resync(conn)
        while True:
            self._wake.clear()
            if self._state.session != session:  # /new: show its history and listen to it from now on
                session = self._state.session
                body = await conn.request("chat.history", {"session": session, "limit": self._history_limit})
                self._set(st.history(self._state, list(body.get("runs") or []), self._clock.monotonic()))
            for key, text in list(self._outbox.items()):
                await self._deliver(conn, key, text)
            wait = await self._enforce_deadlines(conn)
            incoming = await self._next(conn, wait)
            if isinstance(incoming, SeqGap):
                await self._resync(conn)
            elif isinstance(incoming, GatewayEvent) and incoming.event is not None:
                self._set(st.event(self._state, incoming.event, self._clock.monotonic()))

    async def _next(self, conn: Connection, wait: float) -> Any:
        """The next event, or None when ``wait`` passes or a local action (send, /new) wakes the loop."""
        getter = asyncio.ensure_future(conn.next_event(None if math.isinf(wait) else wait))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({getter, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waker, getter):
                if not task.done():
                    task.cancel()
                    # asyncio.wait never raises the child's CancelledError, so a cancellation of this
                    # task (aclose) is never swallowed here
                    await asyncio.wait({task})
        if getter.cancelled():
            return None
        return getter.result()

    async def _deliver(self, conn: Connection, key: str, text: str) -> None:
        if key not in self._outbox:
            return
        try:
            payload = await conn.request(
                "chat.send", {"session": self._state.session, "text": text, "idempotency_key": key}
            )
        except RequestFailed as exc:  # the gateway will never take this message: say why, keep going
            self._outbox.pop(key, None)
            self._set(st.refused(self._state, key, exc.message, self._clock.monotonic()))
            return
        self._outbox.pop(key, None)
        self._set(st.accepted(self._state, key, payload, self._clock.monotonic()))

    async def _resync(self, conn: Connection) -> None:
        """After a reconnect or a gap: re-read every unfinished run (the stream may have missed parts)."""
        for view in self._state.pending:
            if view.run_id is None:
                continue
            try:
                body = await conn.request("run.get", {"run_id": view.run_id})
            except RequestFailed as exc:
                self._set(st.refused(self._state, view.key, exc.message, self._clock.monotonic()))
                continue
            self._set(st.snapshot(self._state, body, self._clock.monotonic(), resync=True))

    async def _enforce_deadlines(self, conn: Connection | None) -> float:
        """Check silent runs, abandon overdue ones; return seconds until the next decision."""
        wait = math.inf
        for view in self._state.pending:
            now = self._clock.monotonic()
            action, after = self.deadlines.decide(view, now)
            if action is Action.GIVE_UP:
                self._outbox.pop(view.key, None)
                self._set(st.abandoned(self._state, view.key, self.deadlines.why_given_up(view), now))
            elif action is Action.CHECK and conn is not None and view.run_id is not None:
                try:
                    body = await conn.request("run.get", {"run_id": view.run_id})
                except RequestFailed as exc:
                    self._set(st.refused(self._state, view.key, exc.message, self._clock.monotonic()))
                    continue
                self._set(st.snapshot(self._state, body, self._clock.monotonic(), check=True))
                wait = min(wait, self.deadlines.idle_s)
            elif action is Action.CHECK:
                wait = min(wait, self.deadlines.idle_s)  # not connected (or not acknowledged): recheck later
            else:
                wait = min(wait, after)
        return wait

    async def _pause(self, seconds: float) -> None:
        """Sleep between reconnects, still abandoning runs whose deadline passes meanwhile."""
        end = self._clock.monotonic() + seconds
        while (left := end - self._clock.monotonic()) > 0:
            wait = await self._enforce_deadlines(None)
            await asyncio.sleep(min(left, wait, 1.0))
        await self._enforce_deadlines(None)

    def _set(self, new: st.ChatState) -> None:
        if new is self._state:
            return
        self._state = new
        self._changed.set()
        self.on_change(new)
