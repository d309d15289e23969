"""``nexus channels add|pair|status`` as real child processes: the token comes from stdin only and
never appears in their output; pairing approves a stranger in the shared state database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from nexus.channels.secrets import ChannelSecrets
from nexus.fakes.telegram_server import FakeTelegram
from nexus.store import open_database
from nexus.store.inbound import PairingStore
from nexus.store.outbox import Outbox
from tests.channels.conftest import OWNER, GatewayFactory, new_token, until


def nexus(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
    env["NEXUS_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "nexus", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_add_reads_the_token_from_stdin_and_stores_it_privately(tmp_path: Path) -> None:
    token = new_token()
    done = nexus(tmp_path, "channels", "add", "telegram", stdin=token + "\n")
    assert done.returncode == 0, done.stderr
    assert token not in done.stdout + done.stderr
    stored = ChannelSecrets(tmp_path).get("telegram")
    assert stored is not None and stored.reveal() == token
    assert (tmp_path / "channels-secrets.json").stat().st_mode & 0o777 == 0o600
    toml = tmp_path / "nexus.toml"
    assert not toml.exists() or token not in toml.read_text()


def test_add_refuses_a_malformed_token_without_echoing_it(tmp_path: Path) -> None:
    done = nexus(tmp_path, "channels", "add", "telegram", stdin="12:not-a-token\n")
    assert done.returncode == 2
    assert "does not look like a bot token" in done.stderr and "not-a-token" not in done.stderr
    assert ChannelSecrets(tmp_path).get("telegram") is None


def test_pair_approves_a_pending_code_once(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "state.db")
    PairingStore(conn).offer(channel="telegram", sender="777", chat_id="777", code="ABCDEFGH")
    conn.close()
    done = nexus(tmp_path, "channels", "pair", "telegram", "abcd-efgh")
    assert done.returncode == 0, done.stderr
    assert "approved telegram sender 777" in done.stdout
    again = nexus(tmp_path, "channels", "pair", "telegram", "ABCDEFGH")
    assert again.returncode == 1 and "no pending telegram pairing code" in again.stderr
    conn = open_database(tmp_path / "state.db")
    pairing = PairingStore(conn).get("telegram", "777")
    assert pairing is not None and pairing.approved_at is not None
    assert Outbox(conn).counts("telegram")["pending"] == 1  # "you are paired", sent by the running gateway
    conn.close()


def test_status_offline_shows_stored_state(tmp_path: Path) -> None:
    nexus(tmp_path, "channels", "add", "telegram", stdin=new_token() + "\n")
    done = nexus(tmp_path, "channels", "status", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["source"] == "stored"
    assert body["channels"]["telegram"]["token_stored"] is True


async def test_status_asks_the_running_gateway(
    telegram_gateway: GatewayFactory, fake_tg: FakeTelegram
) -> None:
    gw = await telegram_gateway()
    port = gw.base_url.rsplit(":", 1)[1]
    (gw.paths.home / "nexus.toml").write_text(f"[gateway]\nport = {port}\n")
    await until(lambda: gw.runtime.channels.state("telegram") == "connected", what="connected")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
    env["NEXUS_HOME"] = str(gw.paths.home)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexus", "channels", "status", "--json",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    body = json.loads(out)
    assert body["source"] == "gateway"
    assert body["channels"]["telegram"]["state"] == "connected"
    assert body["channels"]["telegram"]["identity"] == "@nexus_test_bot"
    fake_tg.push_message(chat_id=OWNER, text="ping")
    await until(lambda: fake_tg.sent(OWNER), what="still answering")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexus", "channels", "status",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert text.startswith("telegram: connected\n")
    assert "  identity: @nexus_test_bot" in text and "s ago" in text


def test_add_slack_reads_the_app_then_the_bot_token_one_per_line(tmp_path: Path) -> None:
    from tests.channels.slack_support import new_tokens

    app, bot = new_tokens()
    done = nexus(tmp_path, "channels", "add", "slack", stdin=f"{app}\n{bot}\n")
    assert done.returncode == 0, done.stderr
    assert app not in done.stdout + done.stderr and bot not in done.stdout + done.stderr
    stored = ChannelSecrets(tmp_path).get("slack")
    assert stored is not None and stored.reveal() == f"{app}\n{bot}"
    swapped = nexus(tmp_path / "other", "channels", "add", "slack", stdin=f"{bot}\n{app}\n")
    assert swapped.returncode == 2 and "app-level token" in swapped.stderr
    assert app not in swapped.stderr and bot not in swapped.stderr


def test_add_discord_reads_the_bot_token(tmp_path: Path) -> None:
    from tests.channels.discord_support import new_token as discord_token

    token = discord_token()
    done = nexus(tmp_path, "channels", "add", "discord", stdin=token + "\n")
    assert done.returncode == 0, done.stderr
    assert token not in done.stdout + done.stderr
    stored = ChannelSecrets(tmp_path).get("discord")
    assert stored is not None and stored.reveal() == token
