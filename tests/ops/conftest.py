"""Real conditions for the doctor: a state dir and a home per test, real listeners (foreign, or a stale
Nexus process carrying this home's marker), a local mount table, and a teardown that kills by pid."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from nexus.common import NexusPaths
from nexus.ops.doctor import DoctorEnv
from nexus.ops.programs import RunResult
from nexus.supervisor.identity import marker_for

LISTENER = """
import socket, sys, time
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", int(sys.argv[1])))
sock.listen(16)
print("listening", flush=True)
time.sleep(120)
"""
SLEEPER = "import time; print('up', flush=True); time.sleep(120)"


def wait_until(predicate: Callable[[], Any], *, timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def no_runner(argv: Any) -> RunResult:
    """A host without systemctl/loginctl."""
    return RunResult(127, "", f"{argv[0]}: not found")


@dataclass
class World:
    """One NEXUS_HOME, one user home, one port, and every process started for the test."""

    root: Path
    port: int
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.home.mkdir(mode=0o700)
        self.paths = NexusPaths(home=self.home / ".nexus")
        self.paths.ensure()
        self.mounts = self.root / "mounts"
        self.mounts.write_text("/dev/sda1 / ext4 rw,relatime 0 0\n")
        self.units = self.root / "units"
        self.units.mkdir()
        self.agents = self.root / "agents"
        self.agents.mkdir()
        self.proc_version = self.root / "version"
        self.proc_version.write_text("Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)\n")
        self.proc_1_comm = self.root / "comm"
        self.proc_1_comm.write_text("systemd\n")
        self.config_text(f"[gateway]\nport = {self.port}\n")

    @property
    def marker(self) -> str:
        return marker_for(self.paths)

    @property
    def environ(self) -> dict[str, str]:
        keep = {
            k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "NOTIFY_SOCKET", "LISTEN_"))
        }
        keep.pop("ANTHROPIC_API_KEY", None)
        keep.pop("OPENAI_API_KEY", None)
        keep.pop("OPENROUTER_API_KEY", None)
        keep.pop("CLAUDE_CONFIG_DIR", None)
        return {**keep, "HOME": str(self.home), "NEXUS_HOME": str(self.paths.home)}

    def config_text(self, text: str) -> None:
        self.paths.config_file.write_text(text)

    def env(self, **overrides: Any) -> DoctorEnv:
        values: dict[str, Any] = {
            "paths": self.paths,
            "environ": self.environ,
            "home": self.home,
            "mounts_path": self.mounts,
            "proc_version": self.proc_version,
            "proc_1_comm": self.proc_1_comm,
            "systemd_dirs": [self.units],
            "launchd_dirs": [self.agents],
            "runner": no_runner,
        }
        values.update(overrides)
        return DoctorEnv(**values)

    def store(self, profiles: dict[str, dict[str, Any]]) -> Path:
        path = self.paths.auth_store
        path.write_text(json.dumps({"version": 1, "profiles": profiles}))
        path.chmod(0o600)
        return path

    def spawn(self, code: str, *args: str, marked: bool = False) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
        if marked:
            env["NEXUS_SUPERVISOR_ID"] = self.marker
        proc = subprocess.Popen(
            [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        self.procs.append(proc)
        assert proc.stdout is not None
        proc.stdout.readline()  # the child says it is ready: no sleep, no race
        return proc

    def listener(self, *, marked: bool) -> subprocess.Popen[bytes]:
        return self.spawn(LISTENER, str(self.port), marked=marked)

    def nexus(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nexus", *args],
            env=self.environ,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            if proc.stdout:
                proc.stdout.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, free_port())
    try:
        yield w
    finally:
        w.close()
