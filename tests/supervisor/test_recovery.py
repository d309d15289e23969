"""Whatever dies, the port answers again: real supervisors, real children, real signals.

Tests marked with ``home_both`` run twice: with pidfd + subreaper + cgroup, and with process groups
alone (``NEXUS_SUPERVISOR_FEATURES=none``, the macOS path).
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.supervisor.conftest import FALLBACK, Home, alive, get_healthz, wait_until


def _kill9_and_time_recovery(home: Home, victim: int) -> float:
    """SIGKILL ``victim`` and return the seconds until /healthz answers from a new generation."""
    before = home.gateway()["generation"]
    started = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    home.wait_ready(generation=before + 1, timeout=10)
    wait_until(lambda: get_healthz(home.port), timeout=5, what="healthz after restart")
    return time.monotonic() - started


def test_kill9_of_the_gateway_recovers_fast_and_counts_one_restart(home_both: Home) -> None:
    home = home_both
    home.supervise("--pidfile", str(home.pidfile()))
    first = home.wait_ready()
    assert get_healthz(home.port)
    features = home.status()["supervisor"]["features"]
    if home.features == FALLBACK:
        assert features == "process groups only"
    else:
        assert "pidfd" in features and "subreaper" in features  # cgroup too where v2 is writable
        if "cgroup" in features:
            own = Path(f"/proc/{first['pid']}/cgroup").read_text()
            assert f"nexus-{home.marker}/gen-{first['generation']}" in own  # joined before exec
    time.sleep(0.4)  # ready longer than healthy_after_s: the policy restarts at once
    elapsed = _kill9_and_time_recovery(home, first["pid"])
    gw = home.gateway()
    assert elapsed < 1.5, f"recovery took {elapsed:.2f}s"
    assert gw["pid"] != first["pid"]
    assert gw["restarts_last_hour"] == 1
    assert gw["last_exit"]["signal"] == signal.SIGKILL
    assert gw["last_exit"]["cause"] == "crash"
    assert not alive(first["pid"])


def _one_request(port: int) -> str:
    """'ok', 'refused' or 'other' for one raw GET /healthz (urllib would hide a refusal)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3.0) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return "ok" if conn.recv(64).startswith(b"HTTP/1.1 200") else "other"
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "other"


def test_clients_wait_in_the_backlog_instead_of_being_refused(home: Home) -> None:
    home.supervise()
    gw = home.wait_ready()
    time.sleep(0.4)
    os.kill(gw["pid"], signal.SIGKILL)
    results: list[str] = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        results.append(_one_request(home.port))
    assert results.count("refused") == 0
    assert results.count("ok") > 0
    assert home.gateway()["generation"] == 2  # the requests did span a restart


@pytest.mark.parametrize("holder", ["--group-holder", "--escape-holder"])
def test_a_descendant_holding_the_socket_is_killed_with_its_generation(home_both: Home, holder: str) -> None:
    home = home_both
    home.supervise(holder, "--pidfile", str(home.pidfile()))
    home.wait_ready()
    wait_until(home.pidfile().exists, timeout=5, what="pidfile")
    gateway_pid, holder_pid = home.read_pids()
    assert alive(holder_pid)
    if holder == "--escape-holder":
        assert os.getsid(holder_pid) != os.getsid(gateway_pid)  # it really left the session
    time.sleep(0.4)
    _kill9_and_time_recovery(home, gateway_pid)
    wait_until(lambda: not alive(holder_pid), timeout=3, what="the holder killed")
    # every connection is now answered by the new generation, none swallowed by an orphan
    assert all(get_healthz(home.port) for _ in range(20))


def test_a_stopped_gateway_is_replaced_after_two_missed_heartbeats(home: Home) -> None:
    home.supervise()
    gw = home.wait_ready()
    time.sleep(0.7)  # ready longer than ready_uptime_s (0.5 s)
    started = time.monotonic()
    os.kill(gw["pid"], signal.SIGSTOP)
    home.wait_ready(generation=2, timeout=10)
    elapsed = time.monotonic() - started
    last = home.gateway()["last_exit"]
    assert last["cause"] == "stopped"
    assert last["ending"] == "ready-then-died"  # it had served before it was stopped: at once
    assert 0.35 <= elapsed < 0.95, f"2 x watchdog_interval_s = 0.4 s, but replaced after {elapsed:.2f}s"
    assert not alive(gw["pid"])
    assert get_healthz(home.port)


def test_a_hung_gateway_is_restarted_by_the_watchdog(home: Home) -> None:
    home.supervise("--hang-on-usr1")
    gw = home.wait_ready()
    time.sleep(0.3)
    started = time.monotonic()
    os.kill(gw["pid"], signal.SIGUSR1)  # its loop blocks: running, not stopped, silent
    home.wait_ready(generation=2, timeout=10)
    elapsed = time.monotonic() - started
    last = home.gateway()["last_exit"]
    assert last["cause"] == "watchdog"
    assert 0.9 <= elapsed < 3.0, f"watchdog_timeout_s=1.0 but restored after {elapsed:.2f}s"
    assert not alive(gw["pid"])
    assert get_healthz(home.port)


def test_a_gateway_without_heartbeats_is_restarted_by_the_liveness_probe(home: Home) -> None:
    # no --notify: readiness from the first good probe; then a blocked loop fails the probe 3 times
    home.supervise("--silent", "--hang-on-usr1", notify=False)
    gw = home.wait_ready()
    os.kill(gw["pid"], signal.SIGUSR1)
    home.wait_ready(generation=2, timeout=10)
    assert home.gateway()["last_exit"]["cause"] == "liveness"


def test_a_ready_child_killed_again_and_again_is_never_left_down(home: Home) -> None:
    """The issue's run: kill -9 every 1.2-2.0 s, 8 times, with the default healthy_after_s (10 s) and
    crash-loop rule (5 in 300 s): every ready generation that was killed is restarted at once."""
    home.paths.config_file.write_text("[supervisor]\nwatchdog_interval_s = 0.2\n")
    home.supervise()
    home.wait_ready()
    rng = random.Random(16)
    back: list[float] = []
    for _ in range(8):
        gw = home.wait_ready(generation=len(back) + 1, timeout=5)
        time.sleep(rng.uniform(1.2, 2.0) - (back[-1] if back else 0.0))
        killed = time.monotonic()
        os.kill(gw["pid"], signal.SIGKILL)
        while not (
            home.gateway().get("generation", 0) > gw["generation"] and get_healthz(home.port, timeout=0.5)
        ):
            assert time.monotonic() - killed < 1.1, f"left down after kill {len(back) + 1}"
            time.sleep(0.005)
        back.append(time.monotonic() - killed)
    status = home.status()
    gw = status["gateway"]
    assert status["supervisor"]["state"] == "running" and status["supervisor"]["crash_loop"] is False
    assert (gw["restarts_at_once_last_hour"], gw["restarts_escalated_last_hour"]) == (8, 0)
    assert gw["last_exit"]["ending"] == "ready-then-died"
    text = home.nexus("status").stdout
    assert "8 at once after a ready generation died" in text and "escalating:" in text
    assert max(back) < 1.0, back


def test_down_with_a_gateway_that_ignores_sigterm_kills_it_after_the_grace_period(home: Home) -> None:
    sup = home.supervise("--ignore-term", "--group-holder", "--pidfile", str(home.pidfile()))
    home.wait_ready()
    wait_until(home.pidfile().exists, timeout=5, what="pidfile")
    pids = home.read_pids()
    started = time.monotonic()
    result = home.nexus("down")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "no Nexus process left" in result.stdout
    assert 1.0 <= elapsed < 6.0  # grace_s = 1.0, then SIGKILL
    assert sup.wait(timeout=5) == 0
    assert [p for p in pids if alive(p)] == []
    assert home.marked() == []
    assert home.status()["supervisor"]["state"] == "stopped"


def test_kill9_of_the_supervisor_then_up_again_kills_the_survivors(home_both: Home) -> None:
    home = home_both
    sup = home.supervise("--escape-holder", "--pidfile", str(home.pidfile()))
    home.wait_ready()
    wait_until(home.pidfile().exists, timeout=5, what="pidfile")
    old = home.read_pids()
    sup.send_signal(signal.SIGKILL)
    sup.wait(timeout=5)
    assert all(alive(p) for p in old)  # the gateway outlives its supervisor ...
    assert home.status()["supervisor"]["state"] == "stopped"  # ... and the lock says so at once
    home.pidfile().unlink()
    home.supervise("--pidfile", str(home.pidfile()))
    gw = home.wait_ready(generation=2)
    wait_until(lambda: not any(alive(p) for p in old), timeout=5, what="survivors killed")
    assert gw["pid"] not in old
    assert get_healthz(home.port)


def test_a_foreign_process_on_the_port_is_named_and_left_alone(home: Home) -> None:
    code = (
        "import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1);"
        f"s.bind(('127.0.0.1',{home.port})); s.listen(); print('ok', flush=True); time.sleep(60)"
    )
    foreign = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert foreign.stdout is not None and foreign.stdout.readline() == b"ok\n"
        result = home.nexus(
            "supervise", "--port", str(home.port), "--", sys.executable, "-c", "pass", timeout=30
        )
        assert result.returncode == 75
        assert f"pid {foreign.pid}" in result.stdout + result.stderr
        assert "not a Nexus process" in result.stdout + result.stderr
        assert foreign.poll() is None  # never killed
    finally:
        foreign.kill()
        foreign.wait(timeout=5)
        if foreign.stdout:
            foreign.stdout.close()


def test_exit_78_blocks_restarts_until_the_config_changes(home: Home) -> None:
    home.supervise("--exit-code", "78", "--last-error", "config", watch=home.paths.config_file)
    wait_until(lambda: home.status()["supervisor"]["state"] == "blocked", timeout=10, what="blocked")
    status = home.status()
    assert status["gateway"]["last_exit"]["code"] == 78
    assert status["gateway"]["last_exit"]["cause"] == "config"
    generation = status["gateway"]["generation"]
    time.sleep(1.5)
    assert home.gateway()["generation"] == generation  # restarting would not help: it does not
    home.paths.config_file.write_text(home.paths.config_file.read_text() + "\n# edited\n")
    wait_until(lambda: home.gateway()["generation"] == generation + 1, timeout=5, what="resume on change")


def test_restart_ends_a_block(home: Home) -> None:
    home.supervise("--exit-code", "78")
    wait_until(lambda: home.status()["supervisor"]["state"] == "blocked", timeout=10, what="blocked")
    generation = home.gateway()["generation"]
    result = home.nexus("restart", "--timeout", "2")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: home.gateway()["generation"] > generation, timeout=5, what="restart after block")


def test_a_crash_loop_is_named_with_its_cause_and_retried_at_the_cap(home: Home, tmp_path: Path) -> None:
    sink = tmp_path / "alerts.jsonl"
    config = home.paths.config_file
    config.write_text(config.read_text() + f'\n[alerts]\ncommand = "cat >> {sink}; echo >> {sink}"\n')
    home.supervise("--exit-code", "3", "--last-error", "dependency")
    wait_until(lambda: home.status()["supervisor"]["state"] == "crash-loop", timeout=15, what="crash loop")
    status = home.status()
    assert status["gateway"]["last_exit"]["cause"] == "dependency"
    assert status["supervisor"]["crash_loop"] is True
    text = home.nexus("status").stdout
    assert "CRASH LOOP" in text and "dependency" in text
    # at the cap (1 s here) the restart rate is bounded: at most ~1 per second
    before = home.gateway()["restarts_last_hour"]
    time.sleep(2.2)
    assert home.gateway()["restarts_last_hour"] - before <= 3
    # the owner is told once, with the cause, not once per restart
    wait_until(lambda: sink.exists() and sink.read_text().strip() != "", timeout=10, what="crash-loop alert")
    alerts = [json.loads(line) for line in sink.read_text().splitlines() if line.strip()]
    assert [a["kind"] for a in alerts] == ["crash_loop"]
    assert "dependency" in alerts[0]["message"]


def test_two_supervisors_started_at_the_same_instant_make_exactly_one(home: Home) -> None:
    a = home.supervise()
    b = home.supervise()
    home.wait_ready()
    wait_until(lambda: a.poll() is not None or b.poll() is not None, timeout=10, what="one loser exits")
    loser, winner = (a, b) if a.poll() is not None else (b, a)
    assert loser.returncode == 1
    assert winner.poll() is None
    gw = home.gateway()
    assert len([p for p in home.marked()]) == 1 and home.marked() == [gw["pid"]]


def test_down_leaves_nothing_and_is_idempotent(home: Home) -> None:
    home.supervise("--group-holder", "--escape-holder", "--pidfile", str(home.pidfile()))
    home.wait_ready()
    wait_until(home.pidfile().exists, timeout=5, what="pidfile")
    pids = home.read_pids()
    logs = home.nexus("logs", "-n", "20", "--which", "supervisor")
    assert "generation 1 started" in logs.stdout
    assert "generation 1 ready" in logs.stdout
    assert home.nexus("down").returncode == 0
    assert [p for p in pids if alive(p)] == []
    assert home.marked() == []
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", home.port)) != 0  # the port is free
    again = home.nexus("down")
    assert again.returncode == 0


def test_logs_follow_shows_a_restart_as_it_happens(home: Home) -> None:
    home.supervise()
    gw = home.wait_ready()
    follower = home.start("logs", "-f", "-n", "0", "--which", "supervisor")
    assert follower.stdout is not None
    log = str(home.paths.logs / "supervisor.log")
    wait_until(
        lambda: any(f.path == log for f in psutil.Process(follower.pid).open_files()),
        timeout=10,
        what="the follower holds the log open",
    )
    os.kill(gw["pid"], signal.SIGKILL)
    seen = b""
    deadline = time.monotonic() + 10
    fd = follower.stdout.fileno()
    os.set_blocking(fd, False)
    while b"generation 2 started" not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            seen += os.read(fd, 65536)
    follower.send_signal(signal.SIGINT)
    assert follower.wait(timeout=10) == 0
    assert b"generation 1 ended: crash (killed by SIGKILL)" in seen
    assert b"generation 2 started" in seen


def test_a_brief_non_supervisor_lock_holder_delays_the_start_instead_of_faking_a_supervisor(
    home: Home,
) -> None:
    from nexus.common import FileLock
    from nexus.supervisor import RunFiles

    lock = FileLock(RunFiles.of(home.paths).lock)
    assert lock.try_acquire()  # what `nexus down` or `doctor --fix` does while sweeping
    try:
        sup = home.supervise()
        time.sleep(0.8)
        assert sup.poll() is None  # still waiting for the lock, not "already running"
    finally:
        lock.release()
    home.wait_ready()
    assert home.status()["supervisor"]["pid"] == sup.pid
