"""A channel that crashes (a bug, not a platform error) restarts alone: the gateway and the other
channels carry on. Secrets never reach logs or /status."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from nexus.channels import ChannelManager, TransportHealth
from nexus.channels.base import InboundHandler
from nexus.channels.manifest import ChannelManifest
from nexus.channels.registry import MANIFESTS
from nexus.channels.secrets import ChannelSecrets
from nexus.common.secret import Secret
from nexus.fakes.telegram_server import FakeTelegram
from nexus.gateway.channels_host import GatewayChannelHost
from tests.channels.conftest import OWNER, GatewayFactory, PlainSettings, telegram_table, until


class CrashyChannel:
    """Our own contract implemented badly on purpose: ``receive`` raises a bug-type error."""

    name = "crashy"
    message_limit = 100

    def __init__(self, **_: Any) -> None:
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1

    async def receive(self, handler: InboundHandler) -> None:
        raise RuntimeError("boom")

    async def stop(self) -> None:
        return None

    def health(self) -> TransportHealth:
        return TransportHealth(alive=False, ok_at=None)

    async def send(self, chat_id: str, text: str, *, reply_to: str | None = None) -> str:
        raise RuntimeError("boom")

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        raise RuntimeError("boom")

    async def typing(self, chat_id: str) -> None:
        return None


CRASHY = ChannelManifest(
    name="crashy",
    title="Crashy",
    config_model=PlainSettings,
    runtime="tests.channels.test_isolation:CrashyChannel",
    secret_prompt="anything",
    secret_check=lambda _: None,
)


async def test_a_crashing_channel_restarts_alone(
    telegram_gateway: GatewayFactory, fake_tg: FakeTelegram, token: str, tmp_path: Path
) -> None:
    gw = await telegram_gateway(enabled=False)  # the gateway's own manager stays out of the way
    home = tmp_path / "manager"
    secrets = ChannelSecrets(home)
    secrets.set("telegram", Secret(token))
    secrets.set("crashy", Secret("x"))
    manager = ChannelManager(
        host=GatewayChannelHost(gw.runtime),
        configs={"telegram": telegram_table(fake_tg), "crashy": {}},
        home=home,
        state_db=gw.paths.state_db,
        manifests={**MANIFESTS, "crashy": CRASHY},
    )
    await manager.start()
    try:
        status = await until(
            lambda: (s := manager.status())["crashy"]["reconnects"] >= 2 and s, what="crashy restarted twice"
        )
        assert status["crashy"]["last_error"] == "crashed: RuntimeError: boom"
        fake_tg.push_message(chat_id=OWNER, text="are you ok?")
        await until(lambda: any(m.text == "echo: are you ok?" for m in fake_tg.sent(OWNER)), what="answer")
        assert manager.state("telegram") == "connected"
        async with gw.client() as client:
            assert (await client.get("/healthz")).json() == {"ok": True}
    finally:
        await manager.stop()


async def test_the_bot_token_never_reaches_logs_or_status(
    telegram_gateway: GatewayFactory, fake_tg: FakeTelegram, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gw = await telegram_gateway()
    fake_tg.push_message(chat_id=OWNER, text="secret?")
    await until(lambda: any(m.text == "echo: secret?" for m in fake_tg.sent(OWNER)), what="answer")
    async with gw.client() as client:
        status = (await client.get("/status")).text
    assert "getUpdates" in caplog.text or "sendMessage" in caplog.text, "the HTTP calls were logged"
    assert token not in caplog.text
    assert token.split(":")[1] not in caplog.text
    assert token not in status
    assert token not in repr(gw.runtime.channels._slots["telegram"].channel)
    secrets_file = gw.paths.home / "channels-secrets.json"
    assert secrets_file.stat().st_mode & 0o777 == 0o600


async def test_a_channel_layer_that_cannot_start_leaves_the_gateway_serving(
    telegram_gateway: GatewayFactory,
) -> None:
    from nexus.gateway.channels_host import NoChannels, start_channels

    gw = await telegram_gateway(enabled=False)
    broken = await start_channels(gw.runtime, manifests=None)  # a manager that cannot even be built
    assert isinstance(broken, NoChannels)
    assert broken.notify_owner("x") == 0
    async with gw.client() as client:
        ready = (await client.get("/readyz")).json()
        accepted = await client.post("/api/messages", json={"session": "api", "text": "hi"})
        run = (await client.get(f"/api/runs/{accepted.json()['run_id']}", params={"wait": 5})).json()
    assert any(r.startswith("channels could not start: ") for r in ready["reasons"])
    assert run["text"] == "echo: hi"


async def test_an_answer_finished_while_no_channel_listened_is_delivered_at_start(
    telegram_gateway: GatewayFactory, fake_tg: FakeTelegram, token: str, tmp_path: Path
) -> None:
    """As after a crash between the run's end and the outbox row: start-up reconciliation queues it."""
    from nexus.store import open_database
    from nexus.store.inbound import RouteStore

    gw = await telegram_gateway(enabled=False)
    conn = open_database(gw.paths.state_db)
    RouteStore(conn).record(
        session=f"telegram:{OWNER}",
        idempotency_key=f"telegram:{OWNER}:77",
        channel="telegram",
        chat_id=str(OWNER),
        message_id="77",
        sender=str(OWNER),
    )
    conn.close()
    run, _ = gw.runtime.accept(
        session=f"telegram:{OWNER}",
        text="while away",
        channel="telegram",
        idempotency_key=f"telegram:{OWNER}:77",
    )
    assert (await gw.runtime.wait_run(run.id, 5)).status == "done"  # type: ignore[union-attr]
    assert fake_tg.sent(OWNER) == []
    home = tmp_path / "later"
    ChannelSecrets(home).set("telegram", Secret(token))
    manager = ChannelManager(
        host=GatewayChannelHost(gw.runtime),
        configs={"telegram": telegram_table(fake_tg)},
        home=home,
        state_db=gw.paths.state_db,
    )
    await manager.start()
    try:
        sent = await until(lambda: fake_tg.sent(OWNER), what="the reconciled answer")
        assert [(m.text, m.reply_to) for m in sent] == [("echo: while away", 77)]
        await until(lambda: manager.status()["telegram"]["outbox"]["sent"] == 1, what="marked sent")
    finally:
        await manager.stop()
