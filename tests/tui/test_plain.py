"""``nexus chat --plain`` as scripts use it: a real process, real gateway, fake provider."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from nexus.fakes.anthropic_server import FakeAnthropic, Hang
from tests.gateway_process import GatewayProcess, free_port

BOUND_S = 60.0


def chat(
    gw_env: dict[str, str], port: int, stdin: str, *args: str, timeout: float = BOUND_S
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nexus", "chat", "--port", str(port), *args],
        input=stdin,
        env=gw_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_lines_in_answers_out_status_on_stderr(live_gateway: GatewayProcess) -> None:
    done = chat(live_gateway.environment(), live_gateway.port, "first\n\nsecond\n", "--session", "p1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "echo: first\necho: second\n"  # stdout carries only answers
    assert "calling anthropic/claude-opus-4-5 (anthropic:env)" in done.stderr
    assert live_gateway.token not in done.stdout + done.stderr


def test_not_a_tty_chooses_plain_mode_and_quiet_silences_status(live_gateway: GatewayProcess) -> None:
    done = chat(live_gateway.environment(), live_gateway.port, "hello\n", "-q")  # no --plain: stdin is a pipe
    assert (done.returncode, done.stdout, done.stderr) == (0, "echo: hello\n", "")


def test_gateway_not_running_exits_3_within_two_seconds(tmp_path: Path) -> None:
    env = GatewayProcess(tmp_path / "home").environment()
    started = time.monotonic()
    done = chat(env, free_port(), "hello\n", timeout=10)
    took = time.monotonic() - started
    assert done.returncode == 3
    assert "the gateway is not running at 127.0.0.1:" in done.stderr
    assert "nexus up" in done.stderr
    assert took < 2.0 + 2.0  # the message within 2 s, plus interpreter and import start-up (~1 s)


def test_the_run_deadline_exits_4_and_says_the_run_stays(
    live_gateway: GatewayProcess, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.always(None, Hang())
    started = time.monotonic()
    done = chat(
        live_gateway.environment(), live_gateway.port, "anyone?\n", "--deadline", "2", "--idle-timeout", "1"
    )
    assert done.returncode == 4, done.stderr
    assert done.stdout == ""
    assert "gave up: no answer within the 2s run deadline; run run_" in done.stderr
    assert "gateway says: running" in done.stderr  # the idle check happened before the deadline
    assert time.monotonic() - started < 2.0 + 3.0


def test_a_failed_run_exits_1_with_the_reason(
    live_gateway: GatewayProcess, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.accept_token = lambda headers: False
    done = chat(live_gateway.environment(), live_gateway.port, "hi\nnever sent\n", "-q")
    assert done.returncode == 1
    assert "auth failed for anthropic:env" in done.stderr
    assert "nexus auth add-key anthropic" in done.stderr
    assert "never sent" not in done.stderr + done.stdout


def test_bad_options_name_the_problem(tmp_path: Path) -> None:
    env = GatewayProcess(tmp_path / "home").environment()
    done = chat(env, free_port(), "", "--deadline", "0", timeout=10)
    assert done.returncode == 2
    assert "--deadline" in done.stderr and "positive" in done.stderr
