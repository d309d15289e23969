"""Keep bot tokens out of logs and error texts (the shapes live in :mod:`nexus.common.redact`).

The Bot API puts the token in every URL (``/bot<token>/method``), and httpx logs every URL at INFO.
The shared filter goes on the ``httpx`` loggers too, for processes whose handlers someone else set up;
python-telegram-bot's own loggers (which log the base URL at DEBUG) are held at WARNING. Any text we
keep (last_error) goes through :func:`redact`.
"""

from __future__ import annotations

import logging

from nexus.common.redact import BOT_MASK, RedactingFilter
from nexus.common.redact import redact as redact_text


def redact(text: str, token: str | None = None) -> str:
    if token:
        text = text.replace(token, BOT_MASK)
    return redact_text(text)


_FILTER = RedactingFilter()


def install() -> None:
    """Idempotent; called when the Telegram runtime is first used."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    telegram_logger = logging.getLogger("telegram")
    if telegram_logger.level < logging.WARNING:
        telegram_logger.setLevel(logging.WARNING)
