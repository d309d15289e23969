"""Connections from outside against a real gateway process: half-finished requests are closed and
their fds come back, the connection cap answers 503, every state file is private from creation, and
the gateway says which home and config it uses."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import time
from pathlib import Path

import httpx

from tests.gateway_process import GatewayProcess

HALF_OPEN = 300


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def until(what: str, predicate: object, *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_half_finished_requests_are_closed_and_their_fds_come_back(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "nexus.toml").write_text("[gateway]\nheader_timeout_s = 0.5\nmax_connections = 1000\n")
    with GatewayProcess(home) as gw:
        with httpx.Client(base_url=gw.base_url, timeout=5) as client:
            assert client.get("/healthz").status_code == 200
        baseline = fd_count(gw.pid)
        socks = []
        try:
            for i in range(HALF_OPEN):
                sock = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
                # alternately: half a request line, and complete line + a header but no blank line
                sock.sendall(b"GET /heal" if i % 2 else b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                socks.append(sock)
            until(
                "the gateway holds the half-open connections",
                lambda: fd_count(gw.pid) >= baseline + HALF_OPEN // 2,
            )
            started = time.monotonic()
            for sock in socks:
                sock.settimeout(max(10.0 - (time.monotonic() - started), 0.1))
                assert sock.recv(1024) == b""  # closed by the gateway (EOF), not left open
            closed_after = time.monotonic() - started
        finally:
            for sock in socks:
                sock.close()
        until("fds back to the baseline", lambda: fd_count(gw.pid) <= baseline + 2)
        with httpx.Client(base_url=gw.base_url, timeout=5) as client:
            assert client.get("/healthz").status_code == 200
    assert closed_after < 5.0


def test_beyond_max_connections_a_request_gets_503(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "nexus.toml").write_text("[gateway]\nmax_connections = 8\nidle_timeout_s = 30\n")
    with GatewayProcess(home) as gw, contextlib.ExitStack() as stack:
        # uvicorn counts the asking connection itself: 7 held open, the 8th is beyond the cap
        clients = [stack.enter_context(httpx.Client(base_url=gw.base_url, timeout=5)) for _ in range(7)]
        statuses = [c.get("/healthz").status_code for c in clients]
        with httpx.Client(base_url=gw.base_url, timeout=5) as eighth:
            refused = eighth.get("/healthz").status_code
        for c in clients:
            c.close()
        with httpx.Client(base_url=gw.base_url, timeout=5) as later:
            until("a slot is free again", lambda: later.get("/healthz").status_code == 200)
    assert statuses == [200] * 7 and refused == 503


def test_state_files_are_private_from_creation_and_the_log_names_home_and_config(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with GatewayProcess(home) as gw:
        with httpx.Client(
            base_url=gw.base_url, timeout=10, headers={"Authorization": f"Bearer {gw.token}"}
        ) as c:
            run_id = c.post("/api/messages", json={"session": "s", "text": "hi"}).json()["run_id"]
            c.get(f"/api/runs/{run_id}", params={"wait": 5})
        modes = {
            str(p.relative_to(home)): stat.S_IMODE(p.stat().st_mode)
            for p in home.rglob("*")
            if p.is_file() and p.name != gw.log_file.name
        }
        log = gw.log()
    assert {"state.db", "state.db-wal", "state.db-shm", "gateway.token"} <= set(modes), modes
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}
    assert f"NEXUS_HOME {home}" in log and f"config {home / 'nexus.toml'} (absent: built-in defaults)" in log
