"""One message validator and one set of limits for every door: ``POST /api/messages``, WS ``chat.send``
and ``POST /v1/chat/completions`` (docs/protocol.md, "Limits").

Each door names its own fields (``text`` is ``params.text`` on the WebSocket and the last user
message's ``content`` on ``/v1``), so a refusal names the field the client actually sent; the rules
are the same everywhere. Pure: no I/O, tested by a table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from nexus.errors import ProtocolError

MAX_TEXT_CHARS = 200_000
"""Longest message text (characters)."""
MAX_SESSION_CHARS = 200
"""Longest session name (``session``; ``user`` on /v1)."""
MAX_KEY_CHARS = 200
"""Longest idempotency key."""
MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest HTTP request body and WebSocket frame (a /v1 request carries the client's whole history)."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects in a JSON body or frame."""

_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidInput(ProtocolError):
    """Input refused before anything was committed; ``field`` names what the client sent."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = f"{field}: {message}"


@dataclass(frozen=True)
class Fields:
    """What a door calls the three parts of a message."""

    session: str = "session"
    text: str = "text"
    idempotency_key: str = "idempotency_key"


HTTP_FIELDS = Fields()
WS_FIELDS = Fields("params.session", "params.text", "params.idempotency_key")
OPENAI_FIELDS = Fields("user", "messages[-1].content", "Idempotency-Key")


@dataclass(frozen=True)
class Message:
    """A message that passed validation: safe to commit."""

    session: str
    text: str
    idempotency_key: str | None = None


def validate_message(
    *, session: Any, text: Any, idempotency_key: Any = None, fields: Fields = HTTP_FIELDS
) -> Message:
    """The message, or :class:`InvalidInput` naming the first field that breaks a rule."""
    return Message(
        session=_string(session, fields.session, MAX_SESSION_CHARS),
        text=_string(text, fields.text, MAX_TEXT_CHARS),
        idempotency_key=None
        if idempotency_key is None
        else _string(idempotency_key, fields.idempotency_key, MAX_KEY_CHARS),
    )


def check_session(value: Any, field: str = "session") -> str:
    """A session name read from a path, a query or ``params.session`` (same rules as in a message)."""
    return _string(value, field, MAX_SESSION_CHARS)


def _string(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be a string, got {_kind(value)}")
    if not value.strip():
        raise InvalidInput(field, "must not be empty or only whitespace")
    if len(value) > limit:
        raise InvalidInput(field, f"is {len(value)} characters; the limit is {limit}")
    if _SURROGATE.search(value):
        raise InvalidInput(
            field, "contains a lone UTF-16 surrogate (not valid Unicode text); send UTF-8 text"
        )
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# -- JSON ------------------------------------------------------------------------------------------


class BadJSON(ProtocolError):
    """A body or frame that is not JSON we accept (syntax, nesting, encoding)."""


def parse_json(raw: str | bytes) -> Any:
    """``json.loads`` that refuses, with :class:`BadJSON`, what would otherwise surface as a 500 or a
    dropped socket: invalid UTF-8, nesting beyond :data:`MAX_JSON_DEPTH`, a recursion overflow."""
    try:
        value = json.loads(raw)
    except RecursionError as exc:
        raise BadJSON(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from exc
    except UnicodeDecodeError as exc:
        raise BadJSON(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from exc
    except ValueError as exc:
        raise BadJSON(f"not JSON: {exc}") from exc
    if _too_deep(value, MAX_JSON_DEPTH):
        raise BadJSON(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _too_deep(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
