"""Discord through a real in-process gateway, the real discord.py client and the fake Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from nexus.alerts import Alerter, AlertKind
from nexus.fakes.discord_server import Failure, FakeDiscord
from nexus.gateway.alerting import AlertWatcher
from tests.channels.conftest import until
from tests.channels.discord_support import (
    GENERAL,
    GUILD,
    OWNER,
    STRANGER,
    GatewayFactory,
    discord_gateways,
    new_token,
)
from tests.gateway.conftest import ScriptedRouter


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    with FakeDiscord(new_token(), heartbeat_interval_ms=300) as fake:
        yield fake


@pytest.fixture
async def discord_gateway(
    tmp_path: Path, fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[GatewayFactory]:
    monkeypatch.setenv("NEXUS_LOCK_DIR", str(tmp_path / "locks"))  # poller locks (and cursors) per test
    async with discord_gateways(tmp_path, fake_discord) as start:
        yield start


async def connected(gw: object) -> None:
    """Discord keeps nothing for a bot with no session: tests write once the bot is online."""
    await until(lambda: gw.runtime.channels.state("discord") == "connected", what="connected")  # type: ignore[attr-defined]


def answers(fake: FakeDiscord, channel: str, text: str) -> list[object]:
    return [m for m in fake.sent(channel) if m.text == text]


async def test_a_dm_is_answered_by_streaming_one_reply_with_a_nonce(
    discord_gateway: GatewayFactory, fake_discord: FakeDiscord
) -> None:
    router = ScriptedRouter(delay=0.1)
    gw = await discord_gateway(router=router)
    await connected(gw)
    dm = fake_discord.dm_channel(OWNER)
    message_id = fake_discord.push_message(user_id=OWNER, text="hello there")
    await until(lambda: answers(fake_discord, dm, "echo: hello there"), what="answer")
    sent = fake_discord.sent(dm)
    assert len(sent) == 1 and sent[0].edits, "streamed by editing one reply"
    assert sent[0].reply_to == message_id and sent[0].nonce
    assert fake_discord.zlib_connections == fake_discord.connections == 1, "zlib-stream, binary frames"
    async with gw.client() as client:
        status = (await client.get("/status")).json()["channels"]["discord"]
    assert status["state"] == "connected" and status["transport_alive"] is True
    assert status["identity"] == "@nexus" and status["delivery_ok_at"] is not None
    assert len(router.calls) == 1


async def test_a_guild_message_is_answered_only_when_it_mentions_the_bot(
    discord_gateway: GatewayFactory, fake_discord: FakeDiscord
) -> None:
    router = ScriptedRouter()
    await connected(await discord_gateway(router=router))
    fake_discord.push_message(user_id=OWNER, text="chatter", channel_id=GENERAL, guild_id=GUILD)
    fake_discord.push_message(user_id=OWNER, text="status?", channel_id=GENERAL, guild_id=GUILD, mention=True)
    await until(lambda: answers(fake_discord, GENERAL, "echo: status?"), what="answer to the mention")
    assert [t.messages[-1].content for t in router.calls] == ["status?"]


async def test_a_stranger_is_offered_a_code_and_served_once_paired(
    discord_gateway: GatewayFactory, fake_discord: FakeDiscord
) -> None:
    router = ScriptedRouter()
    gw = await discord_gateway(router=router)
    await connected(gw)
    dm = fake_discord.dm_channel(STRANGER)
    fake_discord.push_message(user_id=STRANGER, text="let me in")
    offer = await until(lambda: fake_discord.sent(dm), what="pairing code")
    code = offer[0].text.split("pairing code is ")[1].split(".")[0]
    assert router.calls == []
    assert gw.runtime.channels.pairings.approve("discord", code, max_age_s=3600) is not None
    fake_discord.push_message(user_id=STRANGER, text="now?")
    await until(lambda: answers(fake_discord, dm, "echo: now?"), what="served after pairing")
    assert [t.messages[-1].content for t in router.calls] == ["now?"]


async def test_a_429_with_via_is_slept_and_retried_by_bucket(
    discord_gateway: GatewayFactory, fake_discord: FakeDiscord
) -> None:
    fake_discord.fail_next("POST /channels/{id}/messages", Failure(429, retry_after=0.5))
    await connected(await discord_gateway())
    dm = fake_discord.dm_channel(OWNER)
    fake_discord.push_message(user_id=OWNER, text="busy?")
    await until(lambda: answers(fake_discord, dm, "echo: busy?"), timeout=15, what="answer after 429")
    assert fake_discord.calls("POST /channels/{id}/messages") >= 2
    assert len(fake_discord.sent(dm)) == 1


async def test_a_repeated_reply_is_deduplicated_by_its_nonce(
    tmp_path: Path, fake_discord: FakeDiscord
) -> None:
    """The adapter alone: the same reply sent twice (a crash before its id was committed) is one message,
    edited to the newer text."""
    from nexus.channels.discord.adapter import create
    from nexus.channels.registry import manifest
    from nexus.common.secret import Secret
    from tests.channels.discord_support import discord_table

    config = manifest("discord").validate(discord_table(fake_discord))
    channel = create(config=config, token=Secret(fake_discord.token), lock_dir=tmp_path)
    await channel.start()
    try:
        dm = fake_discord.dm_channel(OWNER)
        first = await channel.send(dm, "echo: par", reply_to="123456789012345678")
        second = await channel.send(dm, "echo: partial and more", reply_to="123456789012345678")
        assert first == second and len(fake_discord.sent(dm)) == 1
        assert fake_discord.sent(dm)[0].text == "echo: partial and more"
    finally:
        await channel.stop()


async def test_op7_reconnect_resumes_and_replays_what_was_missed(
    discord_gateway: GatewayFactory, fake_discord: FakeDiscord
) -> None:
    gw = await discord_gateway()
    await until(lambda: gw.runtime.channels.state("discord") == "connected", what="connected")
    fake_discord.reconnect()
    fake_discord.push_message(user_id=OWNER, text="during the reconnect")
    dm = fake_discord.dm_channel(OWNER)
    await until(lambda: answers(fake_discord, dm, "echo: during the reconnect"), what="replayed and answered")
    await until(lambda: fake_discord.resumes >= 1, what="a RESUME")
    assert fake_discord.identifies == 1


async def test_failed_resumes_end_in_a_fresh_identify_and_a_backfill(
    discord_gateway: GatewayFactory, fake_discord: FakeDiscord
) -> None:
    gw = await discord_gateway(max_resume_attempts=2)
    await connected(gw)
    dm = fake_discord.dm_channel(OWNER)
    fake_discord.push_message(user_id=OWNER, text="first")
    await until(lambda: answers(fake_discord, dm, "echo: first"), what="first answer")
    fake_discord.break_resumes = True
    fake_discord.invalidate(resumable=False)  # the session is gone: only REST history keeps what follows
    fake_discord.push_message(user_id=OWNER, text="said while away")
    await until(lambda: fake_discord.identifies >= 2, timeout=20, what="a fresh IDENTIFY")
    fake_discord.break_resumes = False
    await until(lambda: answers(fake_discord, dm, "echo: said while away"), timeout=20, what="backfilled")
    assert gw.runtime.channels.state("discord") == "connected"


async def test_resumes_that_keep_failing_escalate_to_one_fresh_identify(
    discord_gateway: GatewayFactory, fake_discord: FakeDiscord
) -> None:
    """discord.py alone RESUMEs after every 1011 close without backoff, forever; ours stops at N."""
    gw = await discord_gateway(max_resume_attempts=3)
    await connected(gw)
    fake_discord.break_resumes = True
    fake_discord.drop_sockets(1011)
    await until(lambda: fake_discord.identifies == 2, timeout=20, what="a fresh IDENTIFY")
    assert 3 <= fake_discord.resumes <= 5, fake_discord.resumes
    assert "without RESUMED or READY" in (gw.runtime.channels.status()["discord"]["last_error"] or "")
    fake_discord.break_resumes = False
    fake_discord.push_message(user_id=OWNER, text="back?")
    dm = fake_discord.dm_channel(OWNER)
    await until(lambda: answers(fake_discord, dm, "echo: back?"), what="answer on the new session")


async def test_heartbeat_ack_silence_is_a_zombie_and_is_resumed(
    discord_gateway: GatewayFactory, fake_discord: FakeDiscord
) -> None:
    gw = await discord_gateway()
    manager = gw.runtime.channels
    await until(lambda: manager.state("discord") == "connected", what="connected")
    fake_discord.ack_silence = True
    await until(lambda: manager.status()["discord"].get("zombie_resumes", 0) >= 1, what="zombie detected")
    fake_discord.ack_silence = False
    await until(lambda: fake_discord.resumes >= 1, what="resumed")
    fake_discord.push_message(user_id=OWNER, text="alive?")
    dm = fake_discord.dm_channel(OWNER)
    await until(lambda: answers(fake_discord, dm, "echo: alive?"), what="answer after the zombie")


async def test_a_deaf_gateway_is_detected_by_the_canary(
    discord_gateway: GatewayFactory, fake_discord: FakeDiscord
) -> None:
    gw = await discord_gateway(canary_channel=GENERAL, canary_interval_s=0.5, canary_timeout_s=1.0)
    manager = gw.runtime.channels
    await until(lambda: manager.status()["discord"].get("delivery_ok_at") is not None, what="canary back")
    with fake_discord._lock:  # the session keeps its heartbeats but stops dispatching events
        for conn in fake_discord._conns:
            conn.session = None
    await until(lambda: "deaf" in (manager.status()["discord"]["last_error"] or ""), what="deafness detected")
    await until(lambda: fake_discord.identifies >= 2, what="a fresh session")


@pytest.mark.parametrize(("code", "fix"), [(4004, "Reset Token"), (4014, "MESSAGE CONTENT INTENT")])
async def test_final_close_codes_fail_with_the_fix_and_never_loop(
    discord_gateway: GatewayFactory, fake_discord: FakeDiscord, code: int, fix: str
) -> None:
    if code == 4014:
        fake_discord.message_content_enabled = False
    else:
        fake_discord.token_for_gateway_only = "other"  # REST accepts the token, the gateway does not
    gw = await discord_gateway()
    manager = gw.runtime.channels
    await until(lambda: manager.state("discord") == "failed", what="failed")
    assert fix in manager.status()["discord"]["last_error"]
    assert fake_discord.close_codes.count(code) == 1
    # the owner is told, with the fix (the hook, the clients, and the other channels' owner chats)
    watcher = AlertWatcher(gw.runtime, Alerter(gw.runtime.paths, command=None), reports=list)
    (alert,) = [a for a in watcher.due_alerts() if a.kind is AlertKind.CHANNEL_FAILED]
    assert alert.subject == "discord" and fix in alert.message


async def test_a_bad_token_is_final(discord_gateway: GatewayFactory, fake_discord: FakeDiscord) -> None:
    other = new_token()
    gw = await discord_gateway(secret_override=other)
    manager = gw.runtime.channels
    await until(lambda: manager.state("discord") == "failed", what="failed")
    error = manager.status()["discord"]["last_error"]
    assert "Reset Token" in error and other not in error
    assert fake_discord.connections == 0
