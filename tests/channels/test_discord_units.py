"""Discord's pure parts by tables: which messages are answered, reply nonces, cursors, token shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nexus.channels.discord.convert import NONCE_LENGTH, reply_nonce, to_inbound
from nexus.channels.discord.cursors import Cursors
from nexus.channels.discord.manifest import MANIFEST, check_token
from nexus.channels.errors import ChannelConfigError
from tests.channels.discord_support import new_token

BOT = "900000000000000001"


def fields(**overrides: Any) -> dict[str, Any]:
    base = {
        "message_id": "1",
        "channel_id": "2",
        "author_id": "3",
        "author_bot": False,
        "content": "hi",
        "is_dm": True,
        "mention_ids": set(),
        "bot_id": BOT,
    }
    return {**base, **overrides}


@pytest.mark.parametrize(
    ("overrides", "text"),
    [
        ({}, "hi"),
        ({"author_bot": True}, None),
        ({"author_id": BOT}, None),
        ({"is_dm": False}, None),  # guild chatter without a mention
        ({"is_dm": False, "content": f"<@{BOT}> status?", "mention_ids": {BOT}}, "status?"),
        ({"is_dm": False, "content": f"<@!{BOT}> status?", "mention_ids": {BOT}}, "status?"),
        ({"content": "  "}, None),
        ({"is_dm": False, "content": f"<@{BOT}>", "mention_ids": {BOT}}, None),
    ],
)
def test_which_messages_are_answered(overrides: dict[str, Any], text: str | None) -> None:
    message = to_inbound(**fields(**overrides))
    assert (message.text if message else None) == text


def test_a_reply_keeps_its_nonce_from_preview_to_final() -> None:
    assert reply_nonce("2", "1", "echo: h") == reply_nonce("2", "1", "echo: hello")
    assert reply_nonce("2", "1", "x") != reply_nonce("2", "5", "x")
    assert reply_nonce("2", None, "a") != reply_nonce("2", None, "b")
    assert len(reply_nonce("2", "1", "x")) == NONCE_LENGTH


def test_cursors_only_move_forward_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    cursors = Cursors(path)
    cursors.seen("10", "500", is_dm=True)
    cursors.seen("10", "400", is_dm=True)
    cursors.flush()
    assert Cursors(path).items() == [("10", ("500", True))]
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text("{not json")
    assert Cursors(path).items() == [], "a damaged file means no backfill, not a crash"


def test_token_shape_and_ids() -> None:
    assert check_token(new_token()) is None
    assert check_token("abc") is not None
    with pytest.raises(ChannelConfigError) as caught:
        MANIFEST.validate({"allow": ["alice"]})
    assert "channels.discord.allow" in str(caught.value)
    settings: Any = MANIFEST.validate({"allow": [300000000000000001]})
    assert settings.allow_ids() == {"300000000000000001"}
    assert settings.owner_chats() == ["user:300000000000000001"]
