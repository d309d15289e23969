"""A protocol-faithful fake of the Telegram Bot API on 127.0.0.1, for python-telegram-bot (or any client).

It speaks what api.telegram.org speaks, at ``{base_url}/bot<token>/<method>`` (form or JSON bodies,
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code", "description", "parameters"?}``):

- ``getMe``; ``getUpdates`` long polling with offsets (an offset confirms every earlier update, which
  is then gone for good) and, as the real API does, a newer poll terminates an older one still
  waiting with ``409 Conflict: terminated by other getUpdates request``;
- ``sendMessage``, ``editMessageText`` (``400 message is not modified`` for the same text, ``400 message
  to edit not found``), ``sendChatAction``;
- a wrong token gets ``401 Unauthorized``; scripted failures such as ``429`` with ``retry_after``;
- ``stall = True`` swallows long polls silently (no answer, no error), like a half-open connection.

    with FakeTelegram(token) as tg:
        tg.push_message(chat_id=42, text="hi")
        ... config api_base = tg.base_url ...
        tg.wait_until(lambda: tg.sent(42))
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nexus.fakes._server import MethodLog, ThreadedFake, pause, request_params

BOT_USERNAME = "nexus_test_bot"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


@dataclass(frozen=True)
class Failure:
    """A scripted error answer for one call."""

    status: int
    description: str | None = None
    retry_after: int | None = None


@dataclass
class SentMessage:
    chat_id: int
    message_id: int
    text: str
    reply_to: int | None
    sent_at: float = field(default_factory=time.monotonic)
    edits: list[tuple[float, str]] = field(default_factory=list)

    @property
    def first_shown_at(self) -> float:
        return self.sent_at


@dataclass
class _Poll:
    generation: int
    terminated: bool = False


class FakeTelegram(ThreadedFake):
    api_name = "fake-telegram"

    def __init__(self, token: str, *, port: int = 0) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        super().__init__(port=port)
        self._lock = threading.Lock()
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 100_001
        self._message_ids: dict[int, int] = {}
        self._sent: list[SentMessage] = []
        self._methods = MethodLog()
        self._active: _Poll | None = None
        self._generation = 0
        self.pushed_at: dict[int, float] = {}
        """update_id -> monotonic time it was pushed (benchmarks)."""
        self.message_of: dict[int, tuple[int, int]] = {}
        """update_id -> (chat_id, message_id) of the pushed message (answers reply to it)."""
        self.confirmed_offset = 0
        self.conflicts = 0
        """409s answered to getUpdates."""
        self.stall = False
        self.ignore_offsets = False
        """Serve every update again on every poll, as a Bot API that lost its confirmations would."""
        self.stalled_polls = 0

    # ---- life cycle
    def build_app(self) -> Starlette:
        return Starlette(routes=[Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])])

    @property
    def base_url(self) -> str:
        """What ``[channels.telegram] api_base`` should be set to."""
        assert self._server is not None, "use `with FakeTelegram(token) as tg:`"
        return f"http://127.0.0.1:{self._server.port}"

    # ---- scripting
    def push_message(self, *, chat_id: int, text: str, user_id: int | None = None) -> int:
        """A person writes to the bot; returns the update_id."""
        user = chat_id if user_id is None else user_id
        with self._lock:
            message_id = self._new_message_id(chat_id)
            update_id = self._next_update_id
            self._next_update_id += 1
            self._updates.append(
                {
                    "update_id": update_id,
                    "message": {
                        "message_id": message_id,
                        "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "private", "first_name": f"user{user}"},
                        "from": {
                            "id": user,
                            "is_bot": False,
                            "first_name": f"user{user}",
                            "username": f"u{user}",
                        },
                        "text": text,
                    },
                }
            )
            self.pushed_at[update_id] = time.monotonic()
            self.message_of[update_id] = (chat_id, message_id)
        return update_id

    def fail_next(self, method: str, *failures: Failure) -> None:
        self._methods.script(method, list(failures))

    # ---- observing
    def sent(self, chat_id: int | None = None) -> list[SentMessage]:
        with self._lock:
            return [m for m in self._sent if chat_id is None or m.chat_id == chat_id]

    def calls(self, method: str) -> int:
        return self._methods.count(method)

    def call_times(self, method: str) -> list[float]:
        """Monotonic arrival time of every call of ``method``."""
        return self._methods.times(method)

    def pending_updates(self) -> int:
        with self._lock:
            return len(self._updates)

    # ---- the API
    async def _endpoint(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.path_params["method"]
        try:
            params = await request_params(request)
        except ClientDisconnect:
            return Response(status_code=499)  # the client gave up mid-request (e.g. it was stopped)
        failure: Failure | None = self._methods.arrive(method)
        if failure is not None:
            return _error(failure.status, failure.description, retry_after=failure.retry_after)
        handler = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "sendChatAction": self._send_chat_action,
            "deleteWebhook": self._true,
        }.get(method)
        if handler is None:
            return _error(404, "Not Found")
        return await handler(request, params)

    async def _true(self, request: Request, params: dict[str, Any]) -> Response:
        return _ok(True)

    async def _get_me(self, request: Request, params: dict[str, Any]) -> Response:
        return _ok(
            {
                "id": self.bot_id,
                "is_bot": True,
                "first_name": "Nexus Test",
                "username": BOT_USERNAME,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    async def _get_updates(self, request: Request, params: dict[str, Any]) -> Response:
        offset = _int(params.get("offset"))
        timeout = float(_int(params.get("timeout")) or 0)
        stopping = self._server.stopping if self._server is not None else threading.Event()
        if self.stall:
            with self._lock:
                self.stalled_polls += 1
            while self.stall and not stopping.is_set() and not await request.is_disconnected():
                await pause(0.02, stopping)
            return _ok([])
        with self._lock:
            if offset and not self.ignore_offsets:
                self.confirmed_offset = max(self.confirmed_offset, offset)
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if self._active is not None:
                self._active.terminated = True  # the real API ends the older poll with 409
            self._generation += 1
            poll = _Poll(self._generation)
            self._active = poll
        deadline = time.monotonic() + timeout
        try:
            while True:
                with self._lock:
                    if poll.terminated:
                        self.conflicts += 1
                        return _error(
                            409,
                            "Conflict: terminated by other getUpdates request; make sure that only one bot "
                            "instance is running",
                        )
                    ready = list(self._updates[:100])
                if ready or time.monotonic() >= deadline or stopping.is_set():
                    return _ok(ready)
                if await request.is_disconnected():
                    return _ok([])
                await pause(0.01, stopping)
        finally:
            with self._lock:
                if self._active is poll:
                    self._active = None

    async def _send_message(self, request: Request, params: dict[str, Any]) -> Response:
        chat_id = _int(params.get("chat_id"))
        text = str(params.get("text") or "")
        if chat_id is None:
            return _error(400, "Bad Request: chat_id is empty")
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        reply = _json(params.get("reply_parameters"))
        reply_to = (
            _int(reply.get("message_id"))
            if isinstance(reply, dict)
            else _int(params.get("reply_to_message_id"))
        )
        with self._lock:
            message = SentMessage(chat_id, self._new_message_id(chat_id), text, reply_to)
            self._sent.append(message)
        return _ok(self._message_json(message))

    async def _edit_message_text(self, request: Request, params: dict[str, Any]) -> Response:
        chat_id, message_id = _int(params.get("chat_id")), _int(params.get("message_id"))
        text = str(params.get("text") or "")
        with self._lock:
            target = next(
                (m for m in self._sent if m.chat_id == chat_id and m.message_id == message_id), None
            )
            if target is None:
                return _error(400, "Bad Request: message to edit not found")
            if target.text == text:
                return _error(400, NOT_MODIFIED)
            if len(text) > 4096:
                return _error(400, "Bad Request: MESSAGE_TOO_LONG")
            target.text = text
            target.edits.append((time.monotonic(), text))
        return _ok(self._message_json(target))

    async def _send_chat_action(self, request: Request, params: dict[str, Any]) -> Response:
        if _int(params.get("chat_id")) is None:
            return _error(400, "Bad Request: chat_id is empty")
        return _ok(True)

    # ---- helpers
    def _new_message_id(self, chat_id: int) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def _message_json(self, message: SentMessage) -> dict[str, Any]:
        return {
            "message_id": message.message_id,
            "date": int(time.time()),
            "chat": {"id": message.chat_id, "type": "private", "first_name": f"user{message.chat_id}"},
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "Nexus Test", "username": BOT_USERNAME},
            "text": message.text,
        }


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _ok(result: Any) -> Response:
    return JSONResponse({"ok": True, "result": result})


def _error(status: int, description: str | None, *, retry_after: int | None = None) -> Response:
    if description is None:
        description = f"Too Many Requests: retry after {retry_after}" if status == 429 else "Error"
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return JSONResponse(body, status_code=status)
