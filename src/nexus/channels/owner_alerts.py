"""Owner alerts to chat: queued durably to every owner chat, delivered with the outbox's retries."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from nexus.channels.slot import Slot
from nexus.store.outbox import Outbox


def notify_owner(slots: Iterable[Slot], outbox: Outbox, text: str, *, channel: str | None = None) -> int:
    """Queue ``text`` to every owner chat of ``channel`` (default: every channel); returns how many."""
    queued = 0
    for slot in slots:
        if slot.settings is None or (channel is not None and slot.name != channel):
            continue
        for chat in slot.settings.owner_chats():
            outbox.enqueue(channel=slot.name, chat_id=chat, dedupe_key=f"alert:{uuid.uuid4().hex}", text=text)
            queued += 1
        slot.wake.set()
    return queued
