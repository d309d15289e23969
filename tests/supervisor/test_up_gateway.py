"""``nexus up`` with the real gateway (``python -m nexus gateway run``; no model provider needed)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import psutil

from nexus.supervisor import lock_owner_of
from tests.supervisor.conftest import Home, alive, get_healthz, wait_until


def _supervisors_of(home: Home) -> list[int]:
    """Live `nexus up` processes of this home (by their environment, never by name)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("NEXUS_HOME") == str(home.paths.home) and "up" in proc.cmdline():
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def test_up_background_is_idempotent_recovers_from_kill9_and_down_leaves_nothing(home: Home) -> None:
    first = home.nexus("up", "--background")
    assert first.returncode == 0, first.stdout + first.stderr
    gw = home.wait_ready(timeout=20)
    assert get_healthz(home.port)
    supervisor_pid = home.status()["supervisor"]["pid"]

    again = home.nexus("up", "--background")  # what .bashrc does on every new shell
    assert again.returncode == 0
    assert "supervisor: running" in again.stdout
    foreground = home.nexus("up")
    assert foreground.returncode == 0
    assert _supervisors_of(home) == [supervisor_pid]

    time.sleep(0.4)
    started = time.monotonic()
    os.kill(gw["pid"], signal.SIGKILL)
    home.wait_ready(generation=2, timeout=10)
    assert get_healthz(home.port)
    assert time.monotonic() - started < 3.0
    status = home.nexus("status", "--json")
    assert '"restarts_last_hour": 1' in status.stdout

    down = home.nexus("down")
    assert down.returncode == 0, down.stderr
    assert not alive(supervisor_pid)
    assert home.marked() == []
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", home.port)) != 0


def test_two_up_at_the_same_instant_start_exactly_one_supervisor(home: Home) -> None:
    cmd = [sys.executable, "-m", "nexus", "up", "--background"]
    procs = [
        subprocess.Popen(
            cmd, env=home.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    home.wait_ready(timeout=20)
    owner = lock_owner_of(home.paths)
    assert owner is not None
    assert _supervisors_of(home) == [owner.pid]
    assert len(home.marked()) == 1


def test_a_config_error_blocks_with_its_cause_and_resumes_when_fixed(home: Home) -> None:
    good = home.paths.config_file.read_text()
    home.paths.config_file.write_text(good + "\n[gateway]\nbogus_key = 1\n")
    assert home.nexus("up", "--background").returncode == 0
    wait_until(lambda: home.status()["supervisor"]["state"] == "blocked", timeout=20, what="blocked")
    last = home.gateway()["last_exit"]
    assert last["code"] == 78
    assert last["cause"] == "config"
    assert "bogus_key" in last["message"]
    text = home.nexus("status").stdout
    assert "BLOCKED" in text
    home.paths.config_file.write_text(good)
    home.wait_ready(generation=2, timeout=20)
    assert get_healthz(home.port)


def test_kill9_of_the_supervisor_then_up_again_replaces_the_orphaned_gateway(home: Home) -> None:
    assert home.nexus("up", "--background").returncode == 0
    old = home.wait_ready(timeout=20)
    supervisor_pid = home.status()["supervisor"]["pid"]
    os.kill(supervisor_pid, signal.SIGKILL)
    wait_until(lambda: not alive(supervisor_pid), timeout=5, what="supervisor dead")
    assert alive(old["pid"])  # the orphaned gateway still holds the socket
    assert home.status()["supervisor"]["state"] == "stopped"
    again = home.nexus("up", "--background")
    assert again.returncode == 0, again.stdout + again.stderr
    new = home.wait_ready(generation=old["generation"] + 1, timeout=20)
    wait_until(lambda: not alive(old["pid"]), timeout=5, what="the orphaned gateway killed")
    assert new["pid"] != old["pid"]
    assert get_healthz(home.port)
    assert home.marked() == [new["pid"]]


def test_a_stopped_real_gateway_is_replaced_at_once(home: Home) -> None:
    assert home.nexus("up", "--background").returncode == 0
    gw = home.wait_ready(timeout=20)
    time.sleep(0.5)  # some heartbeats have arrived: the real gateway speaks WATCHDOG=1
    started = time.monotonic()
    os.kill(gw["pid"], signal.SIGSTOP)
    home.wait_ready(generation=gw["generation"] + 1, timeout=15)
    assert home.gateway()["last_exit"]["cause"] == "stopped"
    assert time.monotonic() - started < 5.0  # 2 x watchdog_interval_s = 0.4 s, plus a real gateway start
    assert not alive(gw["pid"])
