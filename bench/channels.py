"""Channel benchmark: Telegram, Slack and Discord messages through a real gateway child and back.

    .venv/bin/python bench/channels.py [--channel telegram|slack|discord|all] [--messages N] [--chats C]

Per channel, a fake platform (the Telegram Bot API; Slack's Web API and Socket Mode; Discord's REST
API and gateway) and a zero-latency fake Anthropic API run in this process on 127.0.0.1; the gateway
runs as a real ``nexus gateway run`` child, as in production. N messages are pushed at once,
spread over C chats (each chat is one session, so answers within a chat are sequential, as in life).
Reported: messages per second from the first push of a burst to the last final answer shown, and
p50/p99 from an update being available to the first thing the user sees (the first streamed message),
both one message at a time (idle) and within the burst (queueing included), and, idle, from the
model request (the zero-latency fake's first token) to that first visible message.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from nexus.channels.secrets import ChannelSecrets  # noqa: E402
from nexus.common.secret import Secret  # noqa: E402
from nexus.fakes.anthropic_server import FakeAnthropic  # noqa: E402
from nexus.fakes.discord_server import FakeDiscord  # noqa: E402
from nexus.fakes.slack_server import FakeSlack  # noqa: E402
from nexus.fakes.telegram_server import FakeTelegram  # noqa: E402

TOKEN = "123456789:" + "b" * 35


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def start_gateway(home: Path, port: int, anthropic_url: str, channel: str) -> subprocess.Popen[bytes]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NEXUS_", "ANTHROPIC_", "LISTEN_", "NOTIFY_"))
    }
    env.update(
        NEXUS_HOME=str(home),
        ANTHROPIC_BASE_URL=anthropic_url,
        ANTHROPIC_API_KEY="bench-key",
        NEXUS_LOCK_DIR=str(home / "locks"),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus", "gateway", "run", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(home / "gateway.log").open("wb"),
    )
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(
                    f"gateway exited with {proc.returncode}: {(home / 'gateway.log').read_text()[-2000:]}"
                )
            try:
                token = (home / "gateway.token").read_text().strip()
                body = client.get(
                    f"http://127.0.0.1:{port}/status", headers={"Authorization": f"Bearer {token}"}
                )
                if (
                    body.status_code == 200
                    and body.json().get("channels", {}).get(channel, {}).get("state") == "connected"
                ):
                    return proc
            except (httpx.TransportError, FileNotFoundError):
                pass
            time.sleep(0.01)
    proc.kill()
    raise SystemExit(f"gateway's {channel} channel not connected within 30 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class TelegramDriver:
    """Drives the fake Bot API: a chat is a Telegram chat id; a key is an update_id."""

    name = "telegram"

    def __init__(self, chats: int) -> None:
        self.fake = FakeTelegram(TOKEN)
        self.chats: list[Any] = [10_000 + i for i in range(chats)]

    def configure(self, home: Path) -> dict[str, Any]:
        ChannelSecrets(home).set("telegram", Secret(TOKEN))
        return {
            "api_base": self.fake.base_url,
            "allow": self.chats,
            "poll_timeout_s": 10,
            "edit_interval_s": 0.5,
        }

    def push(self, chat: Any, text: str) -> Any:
        return self.fake.push_message(chat_id=chat, text=text)

    def pushed_at(self, key: Any) -> float:
        return self.fake.pushed_at[key]

    def shown(self, chat: Any | None = None) -> list[Any]:
        return self.fake.sent(chat)

    def extra(self) -> dict[str, Any]:
        calls = sum(self.fake.calls(m) for m in ("sendMessage", "editMessageText", "sendChatAction"))
        return {"api_calls": calls, "conflicts_409": self.fake.conflicts}


class SlackDriver:
    """Drives the fake Slack over Socket Mode: a chat is a user's DM; a key is an event_id."""

    name = "slack"

    def __init__(self, chats: int) -> None:
        app = "xapp-1-A0NEXUS01-1234567890123-" + "c" * 64
        bot = "xoxb-123456789012-1234567890123-" + "d" * 24
        self.fake = FakeSlack(app, bot)
        self.users = [f"U0BENCH{i:03d}" for i in range(chats)]
        self.chats = list(self.users)

    def configure(self, home: Path) -> dict[str, Any]:
        ChannelSecrets(home).set("slack", Secret(f"{self.fake.app_token}\n{self.fake.bot_token}"))
        # the fake does not enforce Slack's Tier 3 limit; the shared chat.update budget is opened wide
        # so that the code, not the budget (50/min by default), is what gets measured
        return {
            "api_base": self.fake.base_url,
            "allow": self.users,
            "edit_interval_s": 1.5,
            "updates_per_minute": 100_000,
            "update_burst": 1000,
        }

    def push(self, chat: Any, text: str) -> Any:
        return self.fake.push_message(user=chat, text=text)

    def pushed_at(self, key: Any) -> float:
        return self.fake.pushed_at[key]

    def shown(self, chat: Any | None = None) -> list[Any]:
        return self.fake.sent(None if chat is None else f"D{chat[1:]}")

    def extra(self) -> dict[str, Any]:
        calls = sum(self.fake.calls(m) for m in ("chat.postMessage", "chat.update"))
        return {"api_calls": calls, "sockets_opened": self.fake.connections}


class DiscordDriver:
    """Drives the fake Discord (REST + zlib-stream gateway): a chat is a user's DM; a key is a message id."""

    name = "discord"

    def __init__(self, chats: int) -> None:
        self.fake = FakeDiscord("MTEwMDAwMDAwMDAwMDAwMDAwMQ.GbEnch.benchbenchbenchbenchbenchbench12")
        self.chats = [str(300_000_000_000_000_000 + i) for i in range(chats)]

    def configure(self, home: Path) -> dict[str, Any]:
        ChannelSecrets(home).set("discord", Secret(self.fake.token))
        return {
            "api_base": self.fake.api_base,
            "gateway_url": self.fake.gateway_url,
            "allow": self.chats,
            "edit_interval_s": 1.0,
            "guild_ready_timeout_s": 0.0,
        }

    def push(self, chat: Any, text: str) -> Any:
        return self.fake.push_message(user_id=chat, text=text)

    def pushed_at(self, key: Any) -> float:
        return self.fake.pushed_at[key]

    def shown(self, chat: Any | None = None) -> list[Any]:
        return self.fake.sent(None if chat is None else self.fake.dm_channel(chat))

    def extra(self) -> dict[str, Any]:
        calls = sum(
            self.fake.calls(r) for r in ("POST /channels/{id}/messages", "PATCH /channels/{id}/messages/{id}")
        )
        return {"api_calls": calls, "identifies": self.fake.identifies}


DRIVERS: dict[str, Callable[[int], Any]] = {
    "telegram": TelegramDriver,
    "slack": SlackDriver,
    "discord": DiscordDriver,
}


def run(driver: Any, messages: int, samples: int) -> dict[str, Any]:
    chats = driver.chats
    with tempfile.TemporaryDirectory() as tmp, driver.fake, FakeAnthropic() as model:
        home = Path(tmp) / "home"
        home.mkdir()
        table = driver.configure(home)
        lines = [f"[channels.{driver.name}]"] + [f"{k} = {json.dumps(v)}" for k, v in table.items()]
        (home / "nexus.toml").write_text("\n".join(lines) + "\n")
        proc = start_gateway(home, free_port(), model.base_url, driver.name)
        try:
            # warm-up: the first run pays for lazy imports in the gateway
            driver.push(chats[0], "warm-up")
            driver.fake.wait_until(
                lambda: any(m.text == "echo: warm-up" for m in driver.shown()), timeout=30, what="warm-up"
            )
            idle: list[float] = []
            after_model: list[float] = []
            for i in range(samples):
                key = driver.push(chats[0], f"s{i}")
                shown = driver.fake.wait_until(
                    lambda i=i: [m for m in driver.shown(chats[0]) if m.text == f"echo: s{i}"],
                    timeout=30,
                    what="answer",
                )
                idle.append(shown[0].sent_at - driver.pushed_at(key))
                asked = [r.at for r in model.requests if f"s{i}" in json.dumps(r.body)[-200:]]
                if asked:  # the zero-latency fake streams its first token as the request arrives
                    shown_wall = time.time() - (time.monotonic() - shown[0].sent_at)
                    after_model.append(shown_wall - asked[-1])
            before = {id(m) for m in driver.shown()}
            started = time.monotonic()
            expected: dict[Any, tuple[Any, str]] = {}
            for i in range(messages):
                chat = chats[i % len(chats)]
                expected[driver.push(chat, f"m{i}")] = (chat, f"echo: m{i}")
            wanted = {answer for _, answer in expected.values()}

            def done() -> bool:
                return wanted <= {m.text for m in driver.shown() if id(m) not in before}

            driver.fake.wait_until(done, timeout=120, what=f"{messages} answers")
            elapsed = time.monotonic() - started
            first_seen: list[float] = []
            for key, (chat, answer) in expected.items():
                message = next(m for m in driver.shown(chat) if m.text == answer)
                first_seen.append(message.sent_at - driver.pushed_at(key))
        finally:
            stop(proc)
    return {
        "channel": driver.name,
        "messages": messages,
        "chats": len(chats),
        "seconds": round(elapsed, 3),
        "messages_per_s": round(messages / elapsed, 1),
        "idle_first_shown_p50_ms": round(percentile(idle, 50) * 1000, 1),
        "idle_first_shown_p99_ms": round(percentile(idle, 99) * 1000, 1),
        "idle_shown_after_model_p50_ms": round(percentile(after_model, 50) * 1000, 1)
        if after_model
        else None,
        "idle_shown_after_model_p99_ms": round(percentile(after_model, 99) * 1000, 1)
        if after_model
        else None,
        "burst_first_shown_p50_ms": round(percentile(first_seen, 50) * 1000, 1),
        "burst_first_shown_p99_ms": round(percentile(first_seen, 99) * 1000, 1),
        **driver.extra(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--samples", type=int, default=30, help="one-at-a-time messages for idle latency")
    parser.add_argument("--channel", choices=[*DRIVERS, "all"], default="all")
    args = parser.parse_args()
    names = list(DRIVERS) if args.channel == "all" else [args.channel]
    results = [run(DRIVERS[name](args.chats), args.messages, args.samples) for name in names]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
