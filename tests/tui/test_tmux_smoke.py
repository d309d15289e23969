"""Smoke test in a real terminal: ``nexus chat`` inside tmux, driven by send-keys, read by capture-pane.

A private tmux server (``-L`` with a unique socket name) so the developer's own tmux is never touched;
it is killed at the end through that same socket.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from tests.gateway_process import GatewayProcess

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


class Tmux:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *args: str) -> str:
        assert TMUX is not None
        done = subprocess.run([TMUX, "-L", self.name, *args], capture_output=True, text=True, timeout=10)
        return done.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "chat")

    def wait_for(self, what: str, predicate: Callable[[str], bool], timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout:g}s: {what}; the screen was:\n{text}")
            time.sleep(0.1)

    def alive(self) -> bool:
        assert TMUX is not None
        return (
            subprocess.run(
                [TMUX, "-L", self.name, "has-session", "-t", "chat"], capture_output=True
            ).returncode
            == 0
        )


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux(f"nexus-test-{os.getpid()}-{time.monotonic_ns()}")
    try:
        yield t
    finally:
        t.run("kill-server")


def test_chat_in_a_real_terminal(live_gateway: GatewayProcess, tmux: Tmux) -> None:
    env = live_gateway.environment()
    keep = {k: env[k] for k in ("NEXUS_HOME", "PATH", "HOME", "NO_PROXY") if k in env}
    command = " ".join(
        [
            "env",
            "-i",  # only what the test chooses: no token or port from the developer's shell
            "TERM=screen-256color",
            *(f"{k}={shlex.quote(v)}" for k, v in keep.items()),
            shlex.quote(sys.executable),
            "-m nexus chat --session smoke --port",
            str(live_gateway.port),
        ]
    )
    tmux.run("new-session", "-d", "-s", "chat", "-x", "110", "-y", "30", command)
    tmux.wait_for("the status line says connected", lambda s: "connected · session smoke" in s)
    tmux.run("send-keys", "-t", "chat", "hello tmux", "Enter")
    screen = tmux.wait_for("the answer", lambda s: "echo: hello tmux" in s and "answered by" in s)
    assert screen.count("echo: hello tmux") == 1
    tmux.run("send-keys", "-t", "chat", "/quit", "Enter")
    deadline = time.monotonic() + 10
    while tmux.alive():
        assert time.monotonic() < deadline, "nexus chat did not exit on /quit"
        time.sleep(0.1)
