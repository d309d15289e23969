"""Slack's pure parts by tables: which events are answered, the shared edit budget, token shapes."""

from __future__ import annotations

from typing import Any

import pytest

from nexus.channels.errors import ChannelConfigError
from nexus.channels.slack.budget import Bucket
from nexus.channels.slack.convert import own_text, thread_for, to_inbound
from nexus.channels.slack.manifest import MANIFEST, check_tokens, split_tokens
from nexus.common.secret import Secret
from tests.channels.slack_support import new_tokens

BOT = "U0BOT"


def payload(**event: Any) -> dict[str, Any]:
    base = {"type": "message", "channel": "D1", "channel_type": "im", "user": "U1", "text": "hi", "ts": "1.1"}
    return {"event_id": "Ev1", "event": {**base, **event}}


@pytest.mark.parametrize(
    ("event", "text"),
    [
        ({}, "hi"),
        ({"channel_type": "channel"}, None),  # a plain channel message: only mentions are answered
        ({"type": "app_mention", "channel": "C1", "text": "<@U0BOT> status?"}, "status?"),
        ({"bot_id": "B1"}, None),
        ({"subtype": "message_changed"}, None),
        ({"user": BOT}, None),
        ({"text": "   "}, None),
        ({"type": "reaction_added"}, None),
        ({"ts": None}, None),
    ],
)
def test_which_events_are_answered(event: dict[str, Any], text: str | None) -> None:
    message = to_inbound(payload(**event), bot_user_id=BOT)
    assert (message.text if message else None) == text
    if message is not None:
        assert message.message_id == "1.1", "the message ts is the identity, never the envelope id"


def test_own_messages_are_recognised_for_the_canary() -> None:
    assert own_text(payload(bot_id="B1", text="check 1"), bot_id="B1") == "check 1"
    assert own_text(payload(bot_id="B2"), bot_id="B1") is None
    assert own_text(payload(), bot_id="B1") is None


@pytest.mark.parametrize(
    ("chat", "reply_to", "thread"), [("D1", "1.1", None), ("C1", "1.1", "1.1"), ("C1", None, None)]
)
def test_threads(chat: str, reply_to: str | None, thread: str | None) -> None:
    assert thread_for(chat, reply_to) == thread


def test_the_update_budget_is_shared_and_refills() -> None:
    bucket = Bucket(rate_per_s=1.0, burst=2)
    assert bucket.take(0.0) == 0.0 and bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == pytest.approx(1.0)
    assert bucket.take(0.5) == pytest.approx(0.5), "a refused take costs nothing"
    assert bucket.take(1.0) == 0.0
    assert bucket.take(100.0) == 0.0 and bucket.take(100.0) == 0.0 and bucket.take(100.0) > 0, "burst caps"


def test_token_shapes() -> None:
    app, bot = new_tokens()
    assert check_tokens(f"{app}\n{bot}") is None
    assert split_tokens(Secret(f"{app}\n{bot}")) == (Secret(app), Secret(bot))
    for bad in (app, f"{bot}\n{app}", f"{app}\nxoxp-1-2-3", ""):
        problem = check_tokens(bad)
        assert problem is not None and app not in problem and bot not in problem


def test_ids_are_checked_by_key() -> None:
    with pytest.raises(ChannelConfigError) as caught:
        MANIFEST.validate({"allow": ["alice"]})
    assert "channels.slack.allow" in str(caught.value)
