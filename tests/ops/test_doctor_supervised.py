"""The doctor next to a real live supervisor: its gateway counts as ours and healthy, while a marked
process outside its tree is a survivor that ``--fix`` kills without touching the live generation.
Also ``nexus cleanup``: frees the port from a stale process, refuses (75) a foreign one."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from nexus.ops.doctor import run_doctor
from nexus.ops.findings import Severity
from nexus.supervisor.records import RunFiles
from tests.ops.conftest import World, alive, wait_until

TINY_CHILD = str(Path(__file__).parents[1] / "supervisor" / "tiny_child.py")


def test_live_gateway_is_ours_and_a_survivor_beside_it_is_killed(world: World) -> None:
    sup = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nexus",
            "supervise",
            "--name",
            "gateway",  # in the gateway's place: the doctor looks at the gateway's supervisor
            "--port",
            str(world.port),
            "--notify",
            "--health-url",
            f"http://127.0.0.1:{world.port}/healthz",
            "--",
            sys.executable,
            TINY_CHILD,
        ],
        env=world.environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    world.procs.append(sup)
    try:
        status = RunFiles.of(world.paths).status

        def ready() -> bool:
            try:
                return json.loads(status.read_text())["gateway"]["state"] == "ready"
            except (OSError, ValueError, KeyError):
                return False

        wait_until(ready, timeout=20, what="the supervised child to be ready")
        gateway_pid = json.loads(status.read_text())["gateway"]["pid"]
        survivor = world.spawn("import time; print('up', flush=True); time.sleep(120)", marked=True)

        outcome = run_doctor(world.env())
        port = next(f for f in outcome.findings if f.check == "port")
        assert port.severity is Severity.OK, port.finding
        survivors = next(f for f in outcome.findings if f.check == "survivors")
        assert survivors.severity is Severity.WARN and str(survivor.pid) in survivors.finding
        assert str(gateway_pid) not in survivors.finding

        run_doctor(world.env(), fix=True)
        wait_until(lambda: not alive(survivor.pid), timeout=5, what="the survivor to die")
        assert alive(gateway_pid) and alive(sup.pid), "the live generation is never touched"
    finally:
        sup.terminate()
        sup.wait(timeout=30)
    wait_until(lambda: not alive(gateway_pid), timeout=10, what="the supervised child to stop")


def test_cleanup_frees_the_port_from_a_stale_process(world: World) -> None:
    stale = world.listener(marked=True)
    done = world.nexus("cleanup")
    assert done.returncode == 0, done.stderr
    assert f"pid {stale.pid}" in done.stdout
    wait_until(lambda: not alive(stale.pid), timeout=5, what="the stale process to die")
    again = world.nexus("cleanup")
    assert again.returncode == 0 and "nothing stale" in again.stdout


def test_cleanup_leaves_a_foreign_holder_alone_and_exits_75(world: World) -> None:
    foreign = world.listener(marked=False)
    started = time.monotonic()
    done = world.nexus("cleanup")
    assert done.returncode == 75
    assert f"pid {foreign.pid}" in done.stderr and "left alone" in done.stderr
    assert alive(foreign.pid)
    assert time.monotonic() - started < 20


def test_cleanup_on_a_fresh_home_creates_it_private(tmp_path: Path) -> None:
    from nexus.common import NexusPaths
    from nexus.ops.cleanup import kill_stale

    paths = NexusPaths(home=tmp_path / "fresh" / ".nexus")
    result = kill_stale(paths, 1)
    assert result.killed == [] and result.left == []
    assert paths.home.stat().st_mode & 0o777 == 0o700
