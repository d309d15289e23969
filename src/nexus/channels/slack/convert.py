"""Slack events in our own terms. Pure; no network.

Served: a person's message in the app's DM (``message`` with ``channel_type: im``) and a mention of
the app anywhere else (``app_mention``). Slack also sends the same mention as a plain ``message`` in
the channel; that one is skipped, and both carry the same ``ts`` anyway, so they could only ever map
to one run. Bots (ours included), edits, joins and every other ``subtype`` are not answered.

The message id is the message's ``ts``: within a channel it *is* the message's identity (what Slack
uses to thread and edit), so a redelivered event (same ``event_id``, new ``envelope_id``) finds the
same run. The ``envelope_id`` identifies one delivery attempt, never the event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from nexus.channels.base import InboundMessage

_MENTION = re.compile(r"<@[A-Z0-9]+>\s*")


def to_inbound(payload: Mapping[str, Any], *, bot_user_id: str | None) -> InboundMessage | None:
    """An ``event_callback`` payload -> the message to answer, or None."""
    event = payload.get("event")
    if not isinstance(event, Mapping):
        return None
    kind = event.get("type")
    if kind == "message" and event.get("channel_type") != "im":
        return None
    if kind not in ("message", "app_mention"):
        return None
    if event.get("subtype") or event.get("bot_id") or event.get("bot_profile"):
        return None
    user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
    if (
        not (isinstance(user, str) and isinstance(channel, str) and isinstance(ts, str))
        or user == bot_user_id
    ):
        return None
    text = str(event.get("text") or "")
    if kind == "app_mention":
        text = _MENTION.sub("", text, count=1)
    if not text.strip():
        return None
    return InboundMessage(channel="slack", chat_id=channel, sender_id=user, message_id=ts, text=text.strip())


def own_text(payload: Mapping[str, Any], *, bot_id: str | None) -> str | None:
    """The text of a message our own bot posted (how the delivery canary comes back), else None."""
    event = payload.get("event")
    if not isinstance(event, Mapping) or event.get("type") != "message" or bot_id is None:
        return None
    if event.get("bot_id") != bot_id:
        return None
    text = event.get("text")
    return text if isinstance(text, str) else None


def thread_for(chat_id: str, reply_to: str | None) -> str | None:
    """Answers in a DM go to the conversation; answers to a mention go to that message's thread."""
    if reply_to is None or chat_id.startswith("D"):
        return None
    return reply_to
