"""Deliver one outbox item through a channel, and decide what a failure means for it.

A run's answer edits the streaming placeholder when one exists (so the chat shows one message, not a
preview and a copy); a placeholder that is gone is replaced by a new message. Long answers go out in
parts, with progress committed after each part.
"""

from __future__ import annotations

import logging

from nexus.channels import retry
from nexus.channels.base import Channel
from nexus.channels.errors import PermanentSendError, SendError, TransientSendError
from nexus.channels.throttle import split_message
from nexus.store.outbox import Outbox, OutboxItem

log = logging.getLogger(__name__)


async def deliver(
    item: OutboxItem, *, channel: Channel, outbox: Outbox, placeholder: str | None, now: float
) -> bool:
    """Try once; True when the item is now fully sent. Failures are recorded on the row."""
    parts = split_message(item.text or "(empty answer)", limit=channel.message_limit)
    try:
        for index in range(item.parts_done, len(parts)):
            reply_to = item.reply_to if index == 0 else None
            if index == 0 and placeholder is not None:
                try:
                    await channel.edit(item.chat_id, placeholder, parts[0])
                except PermanentSendError as exc:
                    log.info(
                        "%s: placeholder %s not editable (%s); sending anew", channel.name, placeholder, exc
                    )
                    await channel.send(item.chat_id, parts[0], reply_to=reply_to)
            else:
                await channel.send(item.chat_id, parts[index], reply_to=reply_to)
            outbox.part_done(item.id, index + 1)
    except Exception as exc:
        error = exc if isinstance(exc, SendError) else TransientSendError(f"{type(exc).__name__}: {exc}")
        decision = retry.after_failure(error, attempts=item.attempts + 1, now=now, created_at=item.created_at)
        if isinstance(decision, retry.Retry):
            outbox.reschedule(item.id, at=decision.at, error=str(error))
        else:
            outbox.mark_dead(item.id, error=decision.reason)
            log.warning(
                "%s: gave up on outbox item %d to chat %s: %s",
                channel.name,
                item.id,
                item.chat_id,
                decision.reason,
            )
        return False
    outbox.mark_sent(item.id)
    return True
