"""A real ``nexus gateway run`` child process for tests: start, wait ready, kill -9, restart.

    with GatewayProcess(tmp_path / "home", env={"ANTHROPIC_BASE_URL": fake.base_url,
                                               "ANTHROPIC_API_KEY": "test-key"}) as gw:
        gw.base_url, gw.port, gw.pid, gw.token   # http://127.0.0.1:PORT, ...
        gw.kill()      # SIGKILL by pid, reaped
        gw.start()     # again, on the same port, same home (runs are durable)
        gw.log()       # the child's stdout+stderr so far (every start appends)

Every wait is bounded (``ready_timeout``); the child is always killed and reaped on exit, by pid,
never by name. The environment is the test's plus ``NEXUS_HOME`` and ``env``; provider and Nexus
variables of the developer's shell are dropped, so a test never reaches a real API by accident.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
DROPPED_PREFIXES = ("NEXUS_", "ANTHROPIC_", "OPENAI_", "CLAUDE_", "LISTEN_", "NOTIFY_SOCKET", "WATCHDOG_")


def free_port() -> int:
    """A port that was free a moment ago (the gateway binds it with SO_REUSEADDR right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayProcess:
    def __init__(
        self,
        home: Path,
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        ready_timeout: float = READY_TIMEOUT_S,
        args: tuple[str, ...] = (),
    ) -> None:
        self.home = Path(home)
        self.port = port or free_port()
        self.ready_timeout = ready_timeout
        self._extra_env = dict(env or {})
        self._args = args
        self._proc: subprocess.Popen[bytes] | None = None
        self.log_file = self.home / "gateway-test.log"

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> GatewayProcess:
        """Start the child on ``self.port`` and return once ``/healthz`` answers (or raise with its log)."""
        if self.running:
            raise RuntimeError(f"gateway pid {self.pid} is already running")
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "nexus", "gateway", "run", "--port", str(self.port), *self._args],
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self.wait_ready()
        except BaseException:
            self.kill()
            raise
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        with httpx.Client(base_url=self.base_url, timeout=1.0, trust_env=False) as client:
            while True:
                if self._proc is None or self._proc.poll() is not None:
                    code = None if self._proc is None else self._proc.returncode
                    raise RuntimeError(
                        f"gateway exited with {code} before it was ready:\n{self.log()[-3000:]}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/healthz").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"gateway not ready within {self.ready_timeout:g}s on port {self.port}:\n"
                        f"{self.log()[-3000:]}"
                    )
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL by pid and reap: a crash, as far as the gateway can tell."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        proc.wait(STOP_TIMEOUT_S)

    def stop(self) -> int | None:
        """SIGTERM, wait for an orderly exit (SIGKILL after the bound); the exit code."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        self._proc = None
        return proc.returncode

    def restart(self) -> GatewayProcess:
        """kill -9, then start again on the same port with the same home."""
        self.kill()
        return self.start()

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.kill()

    # -- facts ------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("gateway is not started")
        return self._proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.home / "gateway.token").read_text().strip()

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_PREFIXES)}
        env.update(NEXUS_HOME=str(self.home), NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        env.update(self._extra_env)
        return env

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""
