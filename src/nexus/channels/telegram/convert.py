"""Telegram updates in our own terms. Pure; no network."""

from __future__ import annotations

from typing import Any

from nexus.channels.base import InboundMessage


def to_inbound(update: Any) -> InboundMessage | None:
    """A text message from a person, or None for anything we do not answer (edits, stickers, bots)."""
    message = getattr(update, "message", None)
    if message is None or not message.text:
        return None
    sender = message.from_user
    if sender is None or sender.is_bot:
        return None
    return InboundMessage(
        channel="telegram",
        chat_id=str(message.chat.id),
        sender_id=str(sender.id),
        message_id=str(message.message_id),
        text=message.text,
        sender_name=sender.username or sender.first_name,
    )
