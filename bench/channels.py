"""Channel benchmark: Telegram messages through a real gateway child and back.

    .venv/bin/python bench/channels.py [--messages N] [--chats C]

A fake Telegram Bot API and a zero-latency fake Anthropic API run in this process on 127.0.0.1; the
gateway runs as a real ``nexus gateway run`` child, as in production. N messages are pushed at once,
spread over C chats (each chat is one session, so answers within a chat are sequential, as in life).
Reported: messages per second from the first push of a burst to the last final answer shown, and
p50/p99 from an update being available to the first thing the user sees (the first streamed message),
both one message at a time (idle) and within the burst (queueing included).
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
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from nexus.channels.secrets import ChannelSecrets  # noqa: E402
from nexus.common.secret import Secret  # noqa: E402
from nexus.fakes.anthropic_server import FakeAnthropic  # noqa: E402
from nexus.fakes.telegram_server import FakeTelegram  # noqa: E402

TOKEN = "123456789:" + "b" * 35


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def start_gateway(home: Path, port: int, anthropic_url: str) -> subprocess.Popen[bytes]:
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
                    and body.json().get("channels", {}).get("telegram", {}).get("state") == "connected"
                ):
                    return proc
            except (httpx.TransportError, FileNotFoundError):
                pass
            time.sleep(0.01)
    proc.kill()
    raise SystemExit("gateway's Telegram channel not connected within 30 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def run(messages: int, chats: int, samples: int) -> dict[str, float]:
    chat_ids = [10_000 + i for i in range(chats)]
    with tempfile.TemporaryDirectory() as tmp, FakeTelegram(TOKEN) as tg, FakeAnthropic() as model:
        home = Path(tmp) / "home"
        home.mkdir()
        ChannelSecrets(home).set("telegram", Secret(TOKEN))
        table = {"api_base": tg.base_url, "allow": chat_ids, "poll_timeout_s": 10, "edit_interval_s": 0.5}
        lines = ["[channels.telegram]"] + [f"{k} = {json.dumps(v)}" for k, v in table.items()]
        (home / "nexus.toml").write_text("\n".join(lines) + "\n")
        proc = start_gateway(home, free_port(), model.base_url)
        try:
            # warm-up: the first run pays for lazy imports in the gateway
            tg.push_message(chat_id=chat_ids[0], text="warm-up")
            tg.wait_until(
                lambda: any(m.text == "echo: warm-up" for m in tg.sent()), timeout=30, what="warm-up"
            )
            idle: list[float] = []
            for i in range(samples):
                update_id = tg.push_message(chat_id=chat_ids[0], text=f"s{i}")
                shown = tg.wait_until(
                    lambda i=i: [m for m in tg.sent(chat_ids[0]) if m.text == f"echo: s{i}"],
                    timeout=30,
                    what="answer",
                )
                idle.append(shown[0].sent_at - tg.pushed_at[update_id])
            before = {id(m) for m in tg.sent()}
            started = time.monotonic()
            expected: dict[int, tuple[int, str]] = {}
            for i in range(messages):
                chat = chat_ids[i % chats]
                text = f"m{i}"
                expected[tg.push_message(chat_id=chat, text=text)] = (chat, f"echo: {text}")
            wanted = {answer for _, answer in expected.values()}

            def done() -> bool:
                shown = {m.text for m in tg.sent() if id(m) not in before}
                return wanted <= shown

            tg.wait_until(done, timeout=120, what=f"{messages} answers")
            elapsed = time.monotonic() - started
            first_seen: list[float] = []
            for update_id, (chat, answer) in expected.items():
                message = next(m for m in tg.sent(chat) if m.text == answer)
                first_seen.append(message.sent_at - tg.pushed_at[update_id])
        finally:
            stop(proc)
    return {
        "messages": messages,
        "chats": chats,
        "seconds": round(elapsed, 3),
        "messages_per_s": round(messages / elapsed, 1),
        "idle_first_shown_p50_ms": round(percentile(idle, 50) * 1000, 1),
        "idle_first_shown_p99_ms": round(percentile(idle, 99) * 1000, 1),
        "burst_first_shown_p50_ms": round(percentile(first_seen, 50) * 1000, 1),
        "burst_first_shown_p99_ms": round(percentile(first_seen, 99) * 1000, 1),
        "telegram_calls": sum(tg.calls(m) for m in ("sendMessage", "editMessageText", "sendChatAction")),
        "conflicts_409": tg.conflicts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--samples", type=int, default=30, help="one-at-a-time messages for idle latency")
    args = parser.parse_args()
    print(json.dumps(run(args.messages, args.chats, args.samples), indent=2))


if __name__ == "__main__":
    main()
