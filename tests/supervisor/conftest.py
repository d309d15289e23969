"""Process-test helpers: a state directory per test, a free port, supervisors started as real processes,
bounded waits, and a teardown that kills (by pid) and then proves nothing of the test is left."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from nexus.common import NexusPaths
from nexus.supervisor.control import down, sweep_home
from nexus.supervisor.identity import GATEWAY, marker_for, named_instances
from nexus.supervisor.records import RunFiles
from nexus.supervisor.sweep import find_marked

TINY_CHILD = str(Path(__file__).with_name("tiny_child.py"))
FULL = "pidfd,subreaper,cgroup"
FALLBACK = "none"

FAST_CONFIG = """
[supervisor]
grace_s = 1.0
healthy_after_s = 0.3
backoff_initial_s = 0.05
backoff_max_s = 1.0
watchdog_interval_s = 0.2
watchdog_timeout_s = 1.0
probe_interval_s = 0.3
probe_timeout_s = 0.5
probe_failures = 3
crash_loop_exits = 4
crash_loop_window_s = 30.0
start_timeout_s = 10.0
"""


def wait_until(predicate: Callable[[], Any], *, timeout: float, poll: float = 0.02, what: str = "") -> Any:
    """Poll ``predicate`` until truthy; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(poll)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_healthz(port: int, *, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as resp:
            return resp.status == 200 and json.loads(resp.read()) == {"ok": True}
    except (OSError, ValueError):
        return False


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class Home:
    """One NEXUS_HOME with its environment, its port and the supervisors started on it."""

    def __init__(self, root: Path, port: int, features: str) -> None:
        self.paths = NexusPaths(home=root)
        self.paths.ensure()
        self.port = port
        self.features = features
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("NOTIFY_SOCKET", "LISTEN_", "NEXUS_"))
            },
            "NEXUS_HOME": str(root),
            "NEXUS_PORT": str(port),
            "NEXUS_SUPERVISOR_FEATURES": features,
        }
        self.paths.config_file.write_text(FAST_CONFIG)

    @property
    def marker(self) -> str:
        return marker_for(self.paths)

    def nexus(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nexus", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nexus", *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def supervise(
        self,
        *child_args: str,
        notify: bool = True,
        health: bool = True,
        watch: Path | None = None,
        name: str | None = "gateway",
        port: int | None = None,
    ) -> subprocess.Popen[bytes]:
        """``nexus supervise`` of the tiny child; by default in the gateway's place (``--name gateway``)
        so the home's status is its status; ``name=None`` lets the name derive from the command."""
        port = self.port if port is None else port
        args = ["supervise", "--port", str(port)]
        if name is not None:
            args += ["--name", name]
        if watch is not None:
            args += ["--watch", str(watch)]
        if notify:
            args.append("--notify")
        if health:
            args += ["--health-url", f"http://127.0.0.1:{port}/healthz"]
        return self.start(*args, "--", sys.executable, TINY_CHILD, *child_args)

    def status(self) -> dict[str, Any]:
        from nexus.supervisor import status

        return status(self.paths)

    def gateway(self) -> dict[str, Any]:
        return self.status()["gateway"]

    def wait_ready(self, *, generation: int = 1, timeout: float = 15.0) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            self.check_running()
            gw = self.gateway()
            ok = gw.get("state") == "ready" and (gw.get("generation") or 0) >= generation
            return gw if ok else None

        return wait_until(ready, timeout=timeout, what=f"generation {generation} ready")

    def check_running(self) -> None:
        """Fail at once (with its output) if every supervisor we started has exited."""
        if self.procs and all(p.poll() is not None for p in self.procs):
            out = b"".join(p.stdout.read() for p in self.procs if p.stdout).decode(errors="replace")
            pytest.fail(f"the supervisor exited early:\n{out[-3000:]}")

    def pidfile(self) -> Path:
        return self.paths.home / "child.pids"

    def read_pids(self) -> list[int]:
        return [int(x) for x in self.pidfile().read_text().split()]

    def marked(self) -> list[int]:
        return [p.pid for p in find_marked(self.marker)]

    def cleanup(self) -> list[int]:
        """Kill our supervisors by pid, then every marked process; return what had been left."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            if proc.stdout:
                proc.stdout.close()
        names = [GATEWAY, *(i.name for i in named_instances(self.paths))]
        left = []
        for name in names:
            with contextlib.suppress(Exception):
                down(self.paths, timeout=15, name=name)  # a background supervisor, found by its lock
            left += [p.pid for p in find_marked(marker_for(self.paths, name))]
            # survivors and our cgroups
            asyncio.run(sweep_home(self.paths, RunFiles.of(self.paths, name), name=name))
        return left


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture(params=[FULL, FALLBACK], ids=["kernel", "fallback"])
def features(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def home(tmp_path: Path, port: int) -> Iterator[Home]:
    h = Home(tmp_path / "home", port, FULL)
    yield h
    h.cleanup()


@pytest.fixture
def home_both(tmp_path: Path, port: int, features: str) -> Iterator[Home]:
    """A home whose supervisors run with every kernel feature, or with process groups alone."""
    h = Home(tmp_path / "home", port, features)
    yield h
    h.cleanup()
