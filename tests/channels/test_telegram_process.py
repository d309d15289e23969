"""The real ``nexus gateway run`` child against the fake Telegram and the fake Anthropic API.

kill -9 is the crash the incident was made of: after it, a message must be answered exactly once,
and a second gateway on the same bot token must neither fight the first nor stay deaf once it dies.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from nexus.channels.secrets import ChannelSecrets
from nexus.common.secret import Secret
from nexus.fakes.anthropic_server import FakeAnthropic, Hang
from nexus.fakes.telegram_server import FakeTelegram
from tests.channels.conftest import OWNER, telegram_table
from tests.gateway_process import GatewayProcess


def write_home(home: Path, fake_tg: FakeTelegram, token: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    ChannelSecrets(home).set("telegram", Secret(token))
    # a generous grace: a gateway child on a busy 2-core machine may block its loop for a second or two
    # while it imports a provider SDK on the first run, and that must not count as a stalled poll here
    table = telegram_table(fake_tg, stall_grace_s=5.0)
    lines = ["[channels.telegram]"] + [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    (home / "nexus.toml").write_text("\n".join(lines) + "\n")


def channel_status(gw: GatewayProcess, name: str = "telegram") -> dict[str, Any]:
    with httpx.Client(base_url=gw.base_url, trust_env=False, timeout=5) as client:
        body = client.get("/status", headers={"Authorization": f"Bearer {gw.token}"}).json()
    return dict(body["channels"][name])


def wait_for(predicate: Any, *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def placeholder_recorded(home: Path) -> bool:
    """The gateway committed the preview message's id (killing before that commit leaves a stale
    preview behind, the one window docs/channels.md names; this test is about the answer)."""
    conn = sqlite3.connect(f"file:{home / 'state.db'}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute("SELECT placeholder_id FROM channel_routes").fetchone()
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()
    return bool(row and row[0])


def model_env(fake: FakeAnthropic, lock_dir: Path) -> dict[str, str]:
    return {
        "ANTHROPIC_BASE_URL": fake.base_url,
        "ANTHROPIC_API_KEY": "test-key",
        "NEXUS_LOCK_DIR": str(lock_dir),
    }


def test_kill_9_mid_answer_then_restart_answers_exactly_once(
    tmp_path: Path, fake_tg: FakeTelegram, token: str, fake_anthropic: FakeAnthropic
) -> None:
    home = tmp_path / "home"
    write_home(home, fake_tg, token)
    fake_anthropic.script(None, Hang(seconds=20, after_chunks=1))  # the first answer never finishes
    with GatewayProcess(home, env=model_env(fake_anthropic, tmp_path / "locks")) as gw:
        fake_tg.push_message(chat_id=OWNER, text="survive this")
        wait_for(lambda: fake_anthropic.count() >= 1, timeout=15, what="the model call")
        wait_for(lambda: placeholder_recorded(home), timeout=10, what="the streaming placeholder")
        gw.kill()
        partial = fake_tg.sent(OWNER)[0].text
        assert partial != "echo: survive this"
        gw.start()
        wait_for(
            lambda: fake_tg.sent(OWNER)[0].text == "echo: survive this",
            timeout=20,
            what=f"the answer after restart:\n{gw.log()[-2000:]}",
        )
        wait_for(
            lambda: channel_status(gw)["outbox"] == {"pending": 0, "sent": 1, "dead": 0},
            timeout=10,
            what="the outbox to settle",
        )
        assert len(fake_tg.sent(OWNER)) == 1, "the placeholder was edited, not duplicated"
        assert fake_anthropic.count() == 2
        with httpx.Client(base_url=gw.base_url, trust_env=False, timeout=5) as client:
            history = client.get(
                f"/api/sessions/telegram:{OWNER}/history", headers={"Authorization": f"Bearer {gw.token}"}
            ).json()
        assert [r["message"] for r in history["runs"]] == ["survive this"]
        assert token not in gw.log()


def test_second_gateway_stands_by_without_409s_and_takes_over_after_kill_9(
    tmp_path: Path, fake_tg: FakeTelegram, token: str, fake_anthropic: FakeAnthropic
) -> None:
    env = model_env(fake_anthropic, tmp_path / "locks")
    write_home(tmp_path / "a", fake_tg, token)
    write_home(tmp_path / "b", fake_tg, token)
    with GatewayProcess(tmp_path / "a", env=env) as first, GatewayProcess(tmp_path / "b", env=env) as second:
        wait_for(lambda: channel_status(first)["state"] == "connected", timeout=10, what="first connected")
        standby = wait_for(
            lambda: (s := channel_status(second))["state"] == "standby" and s, timeout=10, what="standby"
        )
        assert f"pid {first.pid}" in standby["last_error"]
        first.kill()
        wait_for(lambda: channel_status(second)["state"] == "connected", timeout=15, what="takeover")
        fake_tg.push_message(chat_id=OWNER, text="who answers?")
        wait_for(
            lambda: any(m.text == "echo: who answers?" for m in fake_tg.sent(OWNER)),
            timeout=15,
            what="answer",
        )
        assert fake_tg.conflicts <= 1, "at most the dead gateway's orphaned poll is ended with 409"
        assert os.path.exists(tmp_path / "locks")
