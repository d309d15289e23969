"""The real ``nexus gateway run`` child against the fake Slack and the fake Anthropic API: kill -9 after
the event arrived and before the answer, then exactly one answer (and what was said while the gateway
was down, held by Slack until acked, answered too); one socket per app token per host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nexus.fakes.anthropic_server import FakeAnthropic, Hang
from nexus.fakes.slack_server import FakeSlack
from tests.channels.slack_support import OWNER, dm, new_tokens, write_home
from tests.channels.test_telegram_process import channel_status, model_env, placeholder_recorded, wait_for
from tests.gateway_process import GatewayProcess


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    app, bot = new_tokens()
    with FakeSlack(app, bot, redeliver_after_s=1.0) as fake:
        yield fake


def test_kill_9_mid_answer_then_restart_answers_exactly_once(
    tmp_path: Path, fake_slack: FakeSlack, fake_anthropic: FakeAnthropic
) -> None:
    home = tmp_path / "home"
    write_home(home, fake_slack, ping_interval_s=1.0, pong_timeout_s=5.0)
    fake_anthropic.script(None, Hang(seconds=20, after_chunks=1))  # the first answer never finishes
    with GatewayProcess(home, env=model_env(fake_anthropic, tmp_path / "locks")) as gw:
        event = fake_slack.push_message(user=OWNER, text="survive this")
        wait_for(lambda: fake_anthropic.count() >= 1, timeout=15, what="the model call")
        wait_for(lambda: placeholder_recorded(home), timeout=10, what="the streaming placeholder")
        assert fake_slack.event(event)["acked_at"] is not None, "acked once committed, not once answered"
        gw.kill()
        assert fake_slack.sent(dm(OWNER))[0].text != "echo: survive this"
        later = fake_slack.push_message(user=OWNER, text="said while down")  # held by Slack until acked
        gw.start()
        wait_for(
            lambda: fake_slack.sent(dm(OWNER))[0].text == "echo: survive this",
            timeout=20,
            what=f"the answer after restart:\n{gw.log()[-2000:]}",
        )
        wait_for(
            lambda: channel_status_of(gw)["outbox"] == {"pending": 0, "sent": 2, "dead": 0},
            timeout=20,
            what="the outbox to settle",
        )
        texts = sorted(m.text for m in fake_slack.sent(dm(OWNER)))
        assert texts == ["echo: said while down", "echo: survive this"], "edited, not duplicated"
        assert fake_slack.event(later)["acked_at"] is not None
        assert fake_anthropic.count() == 3
        with httpx.Client(base_url=gw.base_url, trust_env=False, timeout=5) as client:
            history = client.get(
                f"/api/sessions/slack:{dm(OWNER)}/history", headers={"Authorization": f"Bearer {gw.token}"}
            ).json()
        assert [r["message"] for r in history["runs"]] == ["survive this", "said while down"]
        assert fake_slack.app_token not in gw.log() and fake_slack.bot_token not in gw.log()


def test_second_gateway_stands_by_and_takes_over_after_kill_9(
    tmp_path: Path, fake_slack: FakeSlack, fake_anthropic: FakeAnthropic
) -> None:
    env = model_env(fake_anthropic, tmp_path / "locks")
    write_home(tmp_path / "a", fake_slack)
    write_home(tmp_path / "b", fake_slack)
    with GatewayProcess(tmp_path / "a", env=env) as first, GatewayProcess(tmp_path / "b", env=env) as second:
        wait_for(lambda: channel_status_of(first)["state"] == "connected", timeout=10, what="first connected")
        standby = wait_for(
            lambda: (s := channel_status_of(second))["state"] == "standby" and s, timeout=10, what="standby"
        )
        assert f"pid {first.pid}" in standby["last_error"]
        assert fake_slack.connections == 1, "the standby gateway opened no socket"
        first.kill()
        wait_for(lambda: channel_status_of(second)["state"] == "connected", timeout=15, what="takeover")
        fake_slack.push_message(user=OWNER, text="who answers?")
        wait_for(
            lambda: any(m.text == "echo: who answers?" for m in fake_slack.sent(dm(OWNER))),
            timeout=15,
            what="answer",
        )


def channel_status_of(gw: GatewayProcess) -> dict[str, object]:
    return channel_status(gw, "slack")
