"""The real ``nexus gateway run`` child against the fake Discord and the fake Anthropic API: kill -9
mid-answer, then one answer; what was said while the gateway was down is backfilled; one gateway
connection per bot token per host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus.fakes.anthropic_server import FakeAnthropic, Hang
from nexus.fakes.discord_server import FakeDiscord
from tests.channels.discord_support import OWNER, new_token, write_home
from tests.channels.test_telegram_process import channel_status, model_env, placeholder_recorded, wait_for
from tests.gateway_process import GatewayProcess


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    with FakeDiscord(new_token(), heartbeat_interval_ms=1000) as fake:
        yield fake


def status(gw: GatewayProcess) -> dict[str, object]:
    return channel_status(gw, "discord")


def test_kill_9_mid_answer_then_restart_answers_exactly_once_and_backfills_the_downtime(
    tmp_path: Path, fake_discord: FakeDiscord, fake_anthropic: FakeAnthropic
) -> None:
    home = tmp_path / "home"
    write_home(home, fake_discord)
    dm = fake_discord.dm_channel(OWNER)
    fake_anthropic.script(None, Hang(seconds=20, after_chunks=1))  # the first answer never finishes
    with GatewayProcess(home, env=model_env(fake_anthropic, tmp_path / "locks")) as gw:
        wait_for(lambda: status(gw)["state"] == "connected", timeout=15, what="connected")
        fake_discord.push_message(user_id=OWNER, text="survive this")
        wait_for(lambda: fake_anthropic.count() >= 1, timeout=15, what="the model call")
        wait_for(lambda: placeholder_recorded(home), timeout=10, what="the streaming placeholder")
        gw.kill()
        assert fake_discord.sent(dm)[0].text != "echo: survive this"
        fake_discord.push_message(user_id=OWNER, text="said while down")  # no session: history only
        gw.start()
        wait_for(
            lambda: any(m.text == "echo: survive this" for m in fake_discord.sent(dm)),
            timeout=20,
            what=f"the answer after restart:\n{gw.log()[-2000:]}",
        )
        wait_for(
            lambda: any(m.text == "echo: said while down" for m in fake_discord.sent(dm)),
            timeout=20,
            what=f"the backfilled message answered:\n{gw.log()[-2000:]}",
        )
        wait_for(
            lambda: status(gw)["outbox"] == {"pending": 0, "sent": 2, "dead": 0}, timeout=10, what="outbox"
        )
        texts = [m.text for m in fake_discord.sent(dm)]
        assert sorted(texts) == ["echo: said while down", "echo: survive this"], texts
        assert fake_discord.token not in gw.log()


def test_second_gateway_stands_by_and_takes_over_after_kill_9(
    tmp_path: Path, fake_discord: FakeDiscord, fake_anthropic: FakeAnthropic
) -> None:
    env = model_env(fake_anthropic, tmp_path / "locks")
    write_home(tmp_path / "a", fake_discord)
    write_home(tmp_path / "b", fake_discord)
    with GatewayProcess(tmp_path / "a", env=env) as first, GatewayProcess(tmp_path / "b", env=env) as second:
        wait_for(lambda: status(first)["state"] == "connected", timeout=15, what="first connected")
        standby = wait_for(
            lambda: (s := status(second))["state"] == "standby" and s, timeout=10, what="standby"
        )
        assert f"pid {first.pid}" in str(standby["last_error"])
        assert fake_discord.identifies == 1, "the standby gateway did not connect"
        first.kill()
        wait_for(lambda: status(second)["state"] == "connected", timeout=20, what="takeover")
        fake_discord.push_message(user_id=OWNER, text="who answers?")
        dm = fake_discord.dm_channel(OWNER)
        wait_for(
            lambda: any(m.text == "echo: who answers?" for m in fake_discord.sent(dm)),
            timeout=15,
            what="answer",
        )
