"""The one redactor for every secret Nexus handles, and the logging filter built on it.

Two kinds of knowledge, because some secrets have a shape and some do not:

- *shapes*: Anthropic API keys (``sk-ant-api03-…``), OAuth access/refresh and setup tokens
  (``sk-ant-oat01-…``, ``sk-ant-ort01-…``), OpenAI keys (``sk-…``, ``sk-proj-…``), Slack
  (``xoxb-…``, ``xapp-…``), Telegram (``123456:AA…``) and Discord bot tokens, JWTs, and whatever follows
  ``Bearer`` or an ``x-api-key``/``api_key=`` label;
- *known values*: secrets without a shape (the gateway token is 43 random URL-safe characters), which
  the owner registers with :meth:`Redactor.add`.

Every text that leaves the process (log lines, ``/status``, error bodies, metric labels) goes through
:func:`redact`; logs get it from :class:`RedactingFilter` on every handler ``logsetup`` installs.
A known prefix stays visible (``sk-ant-oat01-<redacted>``) so an operator can still tell what leaked
where, never the value.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

MASK = "<redacted>"
BOT_MASK = "<bot-token>"
MIN_KNOWN = 8
"""Shorter registered values are ignored: masking every "abc" in a log would hide more than it saves."""

_KEEP_PREFIX = r"\g<prefix>" + MASK

# (name, pattern, replacement); order matters: the specific shapes run before the generic ones.
SHAPES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "bearer",
        re.compile(r"(?P<prefix>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=:\-]{6,}", re.IGNORECASE),
        _KEEP_PREFIX,
    ),
    (
        "labelled",
        re.compile(
            r"(?P<prefix>\b(?:x-api-key|api[_-]?key|access[_-]?token|refresh[_-]?token|client[_-]?secret"
            r"|password|authorization)[\"']?\s*[:=]\s*[\"']?)(?!Bearer\b|Basic\b|<)[^\s\"',;}&]{6,}",
            re.IGNORECASE,
        ),
        _KEEP_PREFIX,
    ),
    ("anthropic", re.compile(r"(?P<prefix>sk-ant-[a-z]{2,6}\d*-)[A-Za-z0-9_\-]{8,}"), _KEEP_PREFIX),
    ("openai", re.compile(r"(?P<prefix>\bsk-(?:proj-|svcacct-|admin-)?)[A-Za-z0-9_\-]{16,}"), _KEEP_PREFIX),
    ("slack", re.compile(r"(?P<prefix>x(?:ox[abposre]|app)-)[A-Za-z0-9\-]{8,}"), _KEEP_PREFIX),
    ("telegram", re.compile(r"(?<![0-9])[0-9]{3,20}:[A-Za-z0-9_-]{20,100}"), BOT_MASK),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MASK),
    (
        "discord",
        re.compile(r"\b[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,45}"),
        BOT_MASK,
    ),
    ("keylike", re.compile(r"(?P<prefix>\b(?:sk|rk|pk)[-_])[A-Za-z0-9_\-]{12,}"), _KEEP_PREFIX),
)


def redact(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with every known value and every secret-shaped string masked (pure)."""
    for value in sorted((v for v in known if v), key=len, reverse=True):
        text = text.replace(value, MASK)
    for _name, pattern, replacement in SHAPES:
        text = pattern.sub(replacement, text)
    return text


class Redactor:
    """:func:`redact` plus the secrets this process has registered (thread-safe: handlers run in any
    thread). One per process owner (the gateway, the supervisor, a CLI command), passed to the filter."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._known: frozenset[str] = frozenset(v for v in known if v and len(v) >= MIN_KNOWN)

    def add(self, *values: str | None) -> None:
        with self._lock:
            self._known = self._known | {v for v in values if v and len(v) >= MIN_KNOWN}

    def __call__(self, text: str) -> str:
        return redact(text, self._known)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and its formatted traceback) through a :class:`Redactor`.

    Put it on handlers, not loggers: a logger's filters see only records logged on that very logger,
    a handler's see every record that reaches it, whichever library logged it."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redactor(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        return True
