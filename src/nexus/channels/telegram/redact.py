"""Keep bot tokens out of logs and error texts.

The Bot API puts the token in every URL (``/bot<token>/method``), and httpx logs every URL at INFO.
A filter on the ``httpx`` logger rewrites those records; python-telegram-bot's own loggers (which log
the base URL at DEBUG) are held at WARNING. Any text we keep (last_error) goes through :func:`redact`.
"""

from __future__ import annotations

import logging
import re

_TOKEN_IN_TEXT = re.compile(r"[0-9]{3,20}:[A-Za-z0-9_-]{20,100}")


def redact(text: str, token: str | None = None) -> str:
    if token:
        text = text.replace(token, "<bot-token>")
    return _TOKEN_IN_TEXT.sub("<bot-token>", text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactTokens()


def install() -> None:
    """Idempotent; called when the Telegram runtime is first used."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    telegram_logger = logging.getLogger("telegram")
    if telegram_logger.level < logging.WARNING:
        telegram_logger.setLevel(logging.WARNING)
