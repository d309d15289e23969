"""Discord messages in our own terms, and the reply nonce. Pure; no network.

Served: a person's DM, and a message that mentions the bot in a guild channel. Bots (ours
included) are never answered. The message id (a snowflake) is the identity, so a RESUME replay or a
backfill of the same message finds the same run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection

from nexus.channels.base import InboundMessage

NONCE_LENGTH = 25
"""Discord accepts nonces of up to 25 characters."""


def to_inbound(
    *,
    message_id: str,
    channel_id: str,
    author_id: str,
    author_bot: bool,
    content: str,
    is_dm: bool,
    mention_ids: Collection[str],
    bot_id: str | None,
) -> InboundMessage | None:
    if author_bot or author_id == bot_id:
        return None
    text = content
    if not is_dm:
        if bot_id is None or bot_id not in mention_ids:
            return None
        text = re.sub(rf"<@!?{bot_id}>\s*", "", text, count=1)
    if not text.strip():
        return None
    return InboundMessage(
        channel="discord", chat_id=channel_id, sender_id=author_id, message_id=message_id, text=text.strip()
    )


def reply_nonce(channel_id: str, reply_to: str | None, text: str) -> str:
    """The same reply gets the same nonce: with ``enforce_nonce`` Discord returns the message already
    created, so a crash between the send and the commit of its id never duplicates a reply. A reply is
    keyed by what it answers (its preview and its final text are one message); anything else by text."""
    basis = f"{channel_id}|reply|{reply_to}" if reply_to else f"{channel_id}|text|{text}"
    return hashlib.sha256(basis.encode()).hexdigest()[:NONCE_LENGTH]
