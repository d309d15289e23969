"""Streaming by editing one message: when may the next edit go out? Pure; tested by a table.

Platforms limit edits (Telegram: about one per second per chat), and an edit that changes nothing is
an error at Telegram. So: never edit faster than ``min_interval_s``, never send a text already shown.
"""

from __future__ import annotations


def edit_delay(
    *, now: float, last_edit_at: float | None, shown: str, pending: str, min_interval_s: float
) -> float | None:
    """None: nothing new to show. Otherwise seconds to wait before showing ``pending`` (0: now)."""
    if pending == shown or not pending.strip():
        return None
    if last_edit_at is None:
        return 0.0
    return max(0.0, last_edit_at + min_interval_s - now)


def preview(text: str, *, limit: int, marker: str = " …") -> str:
    """A streaming preview that fits one message: the tail is cut, never the head."""
    if len(text) <= limit:
        return text
    return text[: limit - len(marker)] + marker


def split_message(text: str, *, limit: int) -> list[str]:
    """Cut a final answer into messages of at most ``limit`` characters, at newlines when possible."""
    if not text:
        return [""]
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", limit // 2, limit)
        cut = cut + 1 if cut != -1 else limit
        parts.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        parts.append(rest)
    return parts
