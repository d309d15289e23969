"""The supervisor's small parts: sd_notify parsing and receiving, life cycles, URL and feature parsing,
cgroup discovery, last-error matching, log rotation following, and the import boundary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nexus.supervisor.cgroup import cgroup2_mount, own_cgroup
from nexus.supervisor.health import HealthUrl, probe
from nexus.supervisor.kernel import KernelFeatures
from nexus.supervisor.logs import Follower, rotated_files, tail_lines
from nexus.supervisor.notify import NotifySocket, parse_notify, send_notify
from nexus.supervisor.records import RunFiles, read_last_error
from nexus.supervisor.states import (
    ChildState,
    InvalidTransition,
    SupervisorState,
    check_child,
    check_supervisor,
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"READY=1", {"READY": "1"}),
        (
            b"READY=1\nSTATUS=serving 3 channels\nWATCHDOG=1",
            {"READY": "1", "STATUS": "serving 3 channels", "WATCHDOG": "1"},
        ),
        (b"garbage\n=1\nlower=1\nX_Y=2", {"X_Y": "2"}),
        (b"STATUS=a=b", {"STATUS": "a=b"}),
        (b"\xff\xfe", {}),
    ],
)
def test_parse_notify(data: bytes, expected: dict[str, str]) -> None:
    assert parse_notify(data) == expected


def test_notify_socket_receives_with_the_senders_pid(tmp_path: Path) -> None:
    sock = NotifySocket(f"nexus-test-{os.getpid()}-{time.monotonic_ns()}", fallback_dir=tmp_path)
    try:
        code = f"from nexus.supervisor.notify import send_notify; send_notify({sock.address!r}, 'READY=1')"
        child = subprocess.run([sys.executable, "-c", code], timeout=30, check=True)
        assert child.returncode == 0
        send_notify(sock.address, "WATCHDOG=1")
        notes = sock.drain()
        assert [n.fields for n in notes] == [{"READY": "1"}, {"WATCHDOG": "1"}]
        if sys.platform.startswith("linux"):
            assert notes[1].pid == os.getpid()
            assert notes[0].pid not in (None, os.getpid())
        assert sock.drain() == []
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("current", "new", "ok"),
    [
        (ChildState.NONE, ChildState.STARTING, True),
        (ChildState.STARTING, ChildState.READY, True),
        (ChildState.READY, ChildState.EXITED, True),
        (ChildState.EXITED, ChildState.STARTING, True),
        (ChildState.NONE, ChildState.READY, False),
        (ChildState.EXITED, ChildState.READY, False),
        (ChildState.STOPPING, ChildState.READY, False),
    ],
)
def test_child_transitions(current: ChildState, new: ChildState, ok: bool) -> None:
    if ok:
        assert check_child(current, new) is new
    else:
        with pytest.raises(InvalidTransition, match=current.value):
            check_child(current, new)


def test_a_stopped_supervisor_stays_stopped() -> None:
    assert check_supervisor(SupervisorState.STOPPING, SupervisorState.STOPPED) is SupervisorState.STOPPED
    for state in SupervisorState:
        with pytest.raises(InvalidTransition):
            check_supervisor(SupervisorState.STOPPED, state)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://127.0.0.1:8080/healthz", HealthUrl("127.0.0.1", 8080, "/healthz")),
        ("http://localhost:9/", HealthUrl("localhost", 9, "/")),
        ("http://127.0.0.1:9", HealthUrl("127.0.0.1", 9, "/")),
    ],
)
def test_health_url_parse(raw: str, expected: HealthUrl) -> None:
    assert HealthUrl.parse(raw) == expected


@pytest.mark.parametrize("raw", ["https://127.0.0.1:1/", "http://127.0.0.1/healthz", "127.0.0.1:80", ""])
def test_health_url_refuses_with_the_expected_shape(raw: str) -> None:
    with pytest.raises(ValueError, match=r"http://127\.0\.0\.1:PORT/healthz"):
        HealthUrl.parse(raw)


async def test_probe_fails_within_its_limit_on_a_silent_listener() -> None:
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts into the backlog, never answers: like a hung gateway
        url = HealthUrl("127.0.0.1", silent.getsockname()[1], "/healthz")
        started = time.monotonic()
        assert await probe(url, limit_s=0.3) is False
        assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("none", KernelFeatures(False, False, False)),
        ("pidfd", KernelFeatures(True, False, False)),
        (" pidfd , cgroup ", KernelFeatures(True, False, True)),
    ],
)
def test_features_env_narrows_what_is_used(raw: str, expected: KernelFeatures) -> None:
    got = KernelFeatures.detect({"NEXUS_SUPERVISOR_FEATURES": raw})
    assert got == expected or not sys.platform.startswith("linux")


def test_features_env_refuses_unknown_names_and_lists_the_known() -> None:
    with pytest.raises(ValueError, match="pidfd, subreaper, cgroup"):
        KernelFeatures.detect({"NEXUS_SUPERVISOR_FEATURES": "pidfd,cgrop"})


def test_cgroup2_mount_found_in_hybrid_and_unified_layouts(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(
        "30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw\n"
        "31 30 0:27 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n"
    )
    assert cgroup2_mount(info) == Path("/sys/fs/cgroup/unified")
    info.write_text("25 1 0:23 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n")
    assert cgroup2_mount(info) == Path("/sys/fs/cgroup")
    info.write_text("25 1 0:23 / /proc rw - proc proc rw\n")
    assert cgroup2_mount(info) is None
    own = tmp_path / "cgroup"
    own.write_text("1:cpu:/\n0::/user.slice/app.slice\n")
    assert own_cgroup(own) == "/user.slice/app.slice"


@pytest.mark.parametrize(
    ("record", "pid", "since", "cause"),
    [
        ({"cause": "port", "message": "m", "pid": 42, "time": 1000.0}, 42, 999.0, "port"),
        ({"cause": "auth", "message": "m", "pid": 42}, 42, 999.0, "auth"),
        ({"cause": "weird", "message": "m", "pid": 42, "time": 1000.0}, 42, 999.0, "crash"),
        ({"cause": "port", "message": "m", "pid": 41, "time": 1000.0}, 42, 999.0, None),  # another pid
        ({"cause": "port", "message": "m", "pid": 42, "time": 900.0}, 42, 999.0, None),  # older generation
    ],
)
def test_last_error_belongs_to_the_generation(
    tmp_path: Path, record: dict[str, object], pid: int, since: float, cause: str | None
) -> None:
    files = RunFiles(tmp_path)
    files.last_error.write_text(json.dumps(record))
    err = read_last_error(files, pid=pid, since=since)
    assert (err.cause if err else None) == cause


def test_follower_reads_across_a_rotation(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text("old\n")
    follower = Follower(log)
    assert follower.poll() == []  # starts at the end
    with log.open("a") as fh:
        fh.write("one\n")
    assert follower.poll() == ["one"]
    with log.open("a") as fh:
        fh.write("two\n")
    log.rename(tmp_path / "gateway.log.1")
    log.write_text("three\n")
    assert follower.poll() == ["two", "three"]
    follower.close()
    assert rotated_files(log) == [tmp_path / "gateway.log.1", log]
    assert tail_lines(log, 3) == ["one", "two", "three"]
    assert tail_lines(log, 0) == []


def test_follower_reads_a_file_that_appears_later_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "late.log"
    follower = Follower(log)
    assert follower.poll() == []
    log.write_text("first\nsecond\n")
    assert follower.poll() == ["first", "second"]
    follower.close()


def test_importing_the_supervisor_loads_no_gateway_model_or_ui_code() -> None:
    code = (
        "import sys, nexus.supervisor, nexus.supervisor.loop\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('anthropic', 'openai', 'starlette', 'textual',"
        " 'uvicorn', 'httpx') or m.startswith(('nexus.gateway', 'nexus.models', 'nexus.auth', 'nexus.store'))]\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_a_stale_status_file_cannot_claim_a_running_supervisor(tmp_path: Path) -> None:
    from nexus.common import FileLock, NexusPaths
    from nexus.supervisor import render_status, status, status_exit_code
    from nexus.supervisor.records import write_status

    paths = NexusPaths(home=tmp_path)
    paths.ensure()
    files = RunFiles.of(paths)
    snapshot = {
        "supervisor": {"pid": os.getpid(), "state": "running"},
        "gateway": {
            "pid": 4242,
            "state": "ready",
            "started_at": 1000.0,
            "ready_at": 1001.0,
            "restart_times": [-100.0, 3000.0, 3500.0],
            "last_exit": {"code": 3, "signal": None, "cause": "dependency", "message": "db gone"},
        },
    }
    write_status(files, snapshot)
    doc = status(paths, now=lambda: 3600.0)
    assert doc["supervisor"] == {"pid": None, "state": "stopped", "name": "gateway"}  # nobody holds the lock
    assert status_exit_code(doc) == 3
    assert doc["gateway"]["pid"] is None and doc["gateway"]["state"] == "stopped"
    assert doc["gateway"]["restarts_last_hour"] == 2
    assert doc["gateway"]["last_exit"]["cause"] == "dependency"

    lock = FileLock(files.lock)
    assert lock.try_acquire()
    try:
        import psutil

        lock.write_owner(json.dumps({"pid": os.getpid(), "create_time": psutil.Process().create_time()}))
        live = status(paths, now=lambda: 3600.0)
    finally:
        lock.release()
    assert live["supervisor"]["state"] == "running"
    assert status_exit_code(live) == 0
    assert live["gateway"]["uptime_s"] == 2599.0  # since READY=1
    text = render_status(live)
    assert "gateway:    ready (pid 4242" in text
    assert "cause dependency: db gone" in text


def test_load_settings_falls_back_to_the_last_good_config_then_defaults(tmp_path: Path) -> None:
    from nexus.common import NexusPaths
    from nexus.config import ConfigError
    from nexus.supervisor import load_settings

    paths = NexusPaths(home=tmp_path)
    paths.ensure()
    paths.config_file.write_text("[gateway]\nport = 18999\n")
    config, problem = load_settings(paths, environ={})
    assert (config.gateway.port, problem) == (18999, None)  # and a last good copy is kept

    paths.config_file.write_text("[gateway]\nport = 18999\nbogus = 1\n")
    config, problem = load_settings(paths, environ={})
    assert config.gateway.port == 18999
    assert problem is not None and "gateway.bogus" in problem and "last good copy" in problem

    paths.last_good_config.unlink()
    config, problem = load_settings(paths, environ={"NEXUS_PORT": "18777"})
    assert config.gateway.port == 18777
    assert problem is not None and "default settings" in problem

    with pytest.raises(ConfigError, match="NEXUS_PORT"):
        load_settings(paths, environ={"NEXUS_PORT": "99999"})


def test_the_proc_scan_and_the_psutil_walk_find_the_same_processes(tmp_path: Path) -> None:
    """Both paths of ``sweep.scan``: by marker, by session, and our own children; never a stranger."""
    import subprocess
    import sys

    from nexus.supervisor.sweep import scan

    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    clean_env = {k: v for k, v in os.environ.items() if k != "NEXUS_SUPERVISOR_ID"}
    marked = subprocess.Popen(sleeper, env={**clean_env, "NEXUS_SUPERVISOR_ID": "m1"}, start_new_session=True)
    in_session = subprocess.Popen(sleeper, env=clean_env, start_new_session=True)
    stranger = subprocess.Popen(
        sleeper, env={**clean_env, "NEXUS_SUPERVISOR_ID": "m1x"}, start_new_session=True
    )
    try:
        for proc in (Path("/proc"), tmp_path / "no-proc"):  # the /proc pass, then the psutil fallback
            by_marker = {p.pid for p in scan("m1", proc=proc)}
            assert by_marker == {marked.pid}
            by_session = {p.pid for p in scan("none", sids=[in_session.pid], proc=proc)}
            assert by_session == {in_session.pid}
            children = {p.pid for p in scan("none", children=True, proc=proc)}
            assert {marked.pid, in_session.pid, stranger.pid} <= children
    finally:
        for proc_ in (marked, in_session, stranger):
            proc_.kill()
            proc_.wait()
