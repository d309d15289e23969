"""Named supervisors: ``nexus supervise`` beside ``nexus up`` in one home, each with its own lock,
status, logs and process marker; and ``nexus status``'s exit codes."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from nexus.supervisor import status, status_exit_code
from nexus.supervisor.identity import check_name, marker_for, name_from_command
from nexus.supervisor.sweep import find_marked
from tests.supervisor.conftest import TINY_CHILD, Home, alive, free_port, get_healthz, wait_until


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        ([sys.executable, TINY_CHILD, "--pidfile", "x"], "tiny_child"),
        (["/usr/bin/env", "python3", "bot.py"], "bot"),
        (["python3", "-m", "http.server", "8000"], "http.server"),
        (["node", "--inspect", "server.js"], "server"),
        (["./run-bot.sh"], "run-bot"),
        (["python", "-c", "print(1)"], "python"),
        (["/opt/my tools/sync agent"], "sync-agent"),
        ([], "command"),
    ],
)
def test_the_default_name_comes_from_the_command(argv: list[str], name: str) -> None:
    assert name_from_command(argv) == name


@pytest.mark.parametrize("bad", ["", ".", "..", "-x", "a/b", "x" * 65, "tab\tname"])
def test_a_name_that_cannot_be_a_directory_is_refused_with_the_rule(bad: str) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        check_name(bad)


def test_the_gateway_keeps_its_marker_and_names_get_their_own(home: Home) -> None:
    assert marker_for(home.paths) == marker_for(home.paths, "gateway") == home.marker
    assert len({marker_for(home.paths, n) for n in ("gateway", "a", "b")}) == 3


@pytest.mark.parametrize(
    ("supervisor", "child", "code"),
    [
        ("running", "ready", 0),
        ("running", "starting", 1),
        ("backoff", "exited", 1),
        ("starting", "none", 1),
        ("stopping", "stopping", 1),
        ("crash-loop", "exited", 2),
        ("blocked", "exited", 2),
        ("stopped", "stopped", 3),
    ],
)
def test_status_exit_codes_follow_lsb(supervisor: str, child: str, code: int) -> None:
    assert status_exit_code({"supervisor": {"state": supervisor}, "gateway": {"state": child}}) == code
    assert status_exit_code({"supervisor": {"state": supervisor}, "child": {"state": child}}) == code


def test_status_exits_3_when_nothing_runs(home: Home) -> None:
    out = home.nexus("status")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "supervisor: stopped" in out.stdout
    assert home.nexus("status", "--json").returncode == 3
    assert home.nexus("status", "--name", "bot").returncode == 3


def _side(home: Home, name: str) -> dict[str, Any]:
    return status(home.paths, name=name)["child"]


def test_supervise_runs_beside_up_with_its_own_lock_status_and_logs(home: Home) -> None:
    assert home.nexus("up", "--background").returncode == 0
    gateway = home.wait_ready(timeout=20)
    side_port = free_port()
    home.supervise("--pidfile", str(home.pidfile()), name=None, port=side_port)  # name from the command
    side = wait_until(
        lambda: (c := _side(home, "tiny_child"))["state"] == "ready" and c, timeout=15, what="side ready"
    )
    assert get_healthz(home.port) and get_healthz(side_port)
    run = home.paths.run / "supervise" / "tiny_child"
    logs = home.paths.logs / "supervise" / "tiny_child"
    assert (run / "supervisor.lock").exists() and (run / "status.json").exists()
    assert (logs / "supervisor.log").exists()
    assert (home.paths.run / "supervisor.lock").exists()  # the gateway's stay where they were
    assert home.marked() == [gateway["pid"]]  # neither supervisor sees the other's processes as its own
    assert [p.pid for p in find_marked(marker_for(home.paths, "tiny_child"))] == [side["pid"]]

    shown = home.nexus("status")
    assert shown.returncode == 0, shown.stdout
    assert "gateway:    ready" in shown.stdout and "supervisor 'tiny_child': running" in shown.stdout
    doc = json.loads(home.nexus("status", "--json").stdout)
    assert doc["gateway"]["pid"] == gateway["pid"]
    assert doc["supervise"]["tiny_child"]["child"]["pid"] == side["pid"]
    assert home.nexus("status", "--name", "tiny_child").returncode == 0

    again = home.supervise(name=None, port=free_port())  # the same name twice: refused, named
    assert again.wait(timeout=30) == 1
    assert again.stdout is not None and b"--name" in again.stdout.read()

    os.kill(side["pid"], signal.SIGKILL)
    wait_until(lambda: (_side(home, "tiny_child").get("generation") or 0) >= 2, timeout=10, what="side back")
    assert home.gateway()["pid"] == gateway["pid"]  # the gateway never noticed
    logs_out = home.nexus("logs", "--name", "tiny_child", "--which", "supervisor", "-n", "50").stdout
    assert "generation 2 started" in logs_out

    down = home.nexus("down", "--name", "tiny_child")
    assert down.returncode == 0, down.stderr
    assert not alive(side["pid"])
    assert home.nexus("status", "--name", "tiny_child").returncode == 3
    assert home.gateway()["state"] == "ready" and alive(gateway["pid"])
    assert home.nexus("status").returncode == 0


def test_a_named_child_writes_its_output_to_its_own_log(home: Home, tmp_path: Path) -> None:
    script = tmp_path / "chatty.py"
    script.write_text("import time\nprint('hello from chatty', flush=True)\ntime.sleep(60)\n")
    home.start("supervise", "--", sys.executable, str(script))
    out = home.paths.logs / "supervise" / "chatty" / "output.log"
    wait_until(lambda: out.exists() and "hello from chatty" in out.read_text(), timeout=15, what="output")
    gateway_log = home.paths.logs / "gateway.log"
    assert not gateway_log.exists() or "hello from chatty" not in gateway_log.read_text(errors="replace")
    shown = home.nexus("logs", "--name", "chatty", "--which", "child").stdout
    assert shown.strip() == "hello from chatty"
