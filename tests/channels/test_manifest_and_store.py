"""Manifests, config errors that name the key, the secrets file, Telegram conversion and redaction,
and the channel tables in SQLite (routes, outbox, pairings)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from nexus.channels.errors import ChannelConfigError
from nexus.channels.registry import MANIFESTS, manifest
from nexus.channels.secrets import ChannelSecrets
from nexus.channels.telegram import redact
from nexus.channels.telegram.manifest import PUBLIC_API, TelegramConfig, check_token
from nexus.common.secret import Secret
from nexus.store import RunStore, open_database
from nexus.store.inbound import PairingStore, RouteStore
from nexus.store.outbox import Outbox, OutboxStatus
from tests.channels.conftest import new_token


def test_every_manifest_is_importable_without_its_sdk() -> None:
    for name, m in MANIFESTS.items():
        assert m.name == name and m.runtime.count(":") == 1
        assert m.validate({}) is not None  # defaults alone are a valid table
    code = (
        "import sys, nexus.channels, nexus.gateway.channels_host; "
        "from nexus.channels.registry import MANIFESTS; MANIFESTS['telegram'].validate({}); "
        "assert 'telegram' not in sys.modules, 'the SDK was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"allow": "me"}, "channels.telegram.allow: Input should be a valid list (got 'me')"),
        ({"allow": [1, "x"]}, "channels.telegram.allow.1:"),
        ({"colour": 1}, "channels.telegram.colour: unknown key; allowed here: allow, api_base"),
        ({"api_base": "ftp://x"}, "channels.telegram.api_base: Value error, must be an http(s) URL"),
        (
            {"poll_timeout_s": 90},
            "channels.telegram.poll_timeout_s: Input should be less than or equal to 50",
        ),
    ],
)
def test_config_errors_name_the_key(table: dict[str, object], fragment: str) -> None:
    with pytest.raises(ChannelConfigError) as caught:
        manifest("telegram").validate(table)
    assert fragment in str(caught.value)


def test_telegram_config_defaults() -> None:
    config = TelegramConfig(allow=[5, 6])
    assert config.api_base == PUBLIC_API
    assert config.owner_chats() == ["5", "6"]
    assert TelegramConfig(allow=[5], owners=[9]).owner_chats() == ["9"]
    assert config.allow_ids() == {"5", "6"}


def test_token_shape_check_never_echoes_the_token() -> None:
    assert check_token(new_token()) is None
    bad = "12345:short"
    message = check_token(bad)
    assert message is not None and bad not in message


def test_secrets_file_is_private_atomic_and_round_trips(tmp_path: Path) -> None:
    secrets = ChannelSecrets(tmp_path)
    assert secrets.get("telegram") is None
    token = new_token()
    secrets.set("telegram", Secret(token))
    assert secrets.path.stat().st_mode & 0o777 == 0o600
    got = secrets.get("telegram")
    assert got is not None and got.reveal() == token
    assert token not in repr(got)
    assert json.loads(secrets.path.read_text())["channels"]["telegram"]["token"] == token
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_redaction_filter_scrubs_tokens_from_httpx_records(caplog: pytest.LogCaptureFixture) -> None:
    token = new_token()
    redact.install()
    caplog.set_level(logging.INFO, logger="httpx")
    logging.getLogger("httpx").info('HTTP Request: POST http://127.0.0.1:1/bot%s/getMe "200"', token)
    assert token not in caplog.text and "bot<bot-token>/getMe" in caplog.text
    assert redact.redact(f"error at /bot{token}/x", token) == "error at /bot<bot-token>/x"


def test_telegram_updates_convert_to_inbound_messages() -> None:
    from telegram import Update

    from nexus.channels.telegram.convert import to_inbound

    def update(**message: object) -> Update:
        base = {"message_id": 7, "date": 0, "chat": {"id": -100, "type": "group"}}
        return Update.de_json({"update_id": 1, "message": {**base, **message}}, None)

    got = to_inbound(update(text="hi", **{"from": {"id": 5, "is_bot": False, "first_name": "A"}}))
    assert got is not None
    assert (got.chat_id, got.sender_id, got.message_id, got.text) == ("-100", "5", "7", "hi")
    assert got.idempotency_key == "telegram:-100:7" and got.session == "telegram:-100"
    assert to_inbound(update(**{"from": {"id": 5, "is_bot": False, "first_name": "A"}})) is None  # no text
    assert to_inbound(update(text="x", **{"from": {"id": 6, "is_bot": True, "first_name": "B"}})) is None


def test_routes_outbox_and_pairings_in_sqlite(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "state.db")
    runs = RunStore(conn)
    routes, outbox, pairings = RouteStore(conn), Outbox(conn), PairingStore(conn)
    key = dict(session="telegram:1", idempotency_key="telegram:1:9")
    routes.record(channel="telegram", chat_id="1", message_id="9", sender="1", **key)
    routes.record(channel="telegram", chat_id="1", message_id="9", sender="1", **key)  # redelivery
    run, created = runs.accept(
        session="telegram:1", text="q", channel="telegram", sender="1", idempotency_key="telegram:1:9"
    )
    assert created
    route = routes.for_run(run.id)
    assert route is not None and route.chat_id == "1" and route.placeholder_id is None
    runs.claim(run.id)
    assert routes.finished_unqueued() == []  # still running: nothing to deliver yet
    runs.finish(run.id, answer="a", model="m")
    [unqueued] = routes.finished_unqueued()  # what start-up reconciliation would queue
    assert (unqueued.run_id, unqueued.answer, unqueued.route) == (run.id, "a", route)
    first = outbox.enqueue(
        channel="telegram",
        chat_id="1",
        dedupe_key=f"run:{run.id}",
        text="a",
        run_id=run.id,
        route_key=(route.session, route.idempotency_key),
    )
    again = outbox.enqueue(
        channel="telegram", chat_id="1", dedupe_key=f"run:{run.id}", text="a", run_id=run.id
    )
    assert (first, again) == (True, False)
    assert routes.finished_unqueued() == []  # queued_at was set in the same transaction
    item = outbox.due("telegram")[0]
    outbox.reschedule(item.id, at=0.0, error="boom")
    outbox.part_done(item.id, 1)
    outbox.mark_sent(item.id)
    done = outbox.get(item.id)
    assert (
        done is not None and done.status is OutboxStatus.SENT and done.attempts == 2 and done.parts_done == 1
    )
    assert outbox.counts("telegram") == {"pending": 0, "sent": 1, "dead": 0}
    pairings.offer(channel="telegram", sender="2", chat_id="2", code="ABCDEFGH")
    assert pairings.approve("telegram", "WRONG", max_age_s=3600) is None
    approved = pairings.approve("telegram", "ABCDEFGH", max_age_s=3600)
    assert approved is not None and approved.sender == "2"
    assert pairings.approve("telegram", "ABCDEFGH", max_age_s=3600) is None  # once only
    conn.close()
