"""kill -9 between a tool's start and its result: the resumed run reports it, never reruns it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from nexus.agent import journal as j
from nexus.agent.loop import ToolLoop
from nexus.common.paths import NexusPaths
from nexus.store import RunStore
from tests.agent.conftest import make_world
from tests.agent.scripted import ScriptedModel

ROOT = Path(__file__).resolve().parents[2]


def _wait(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _crash_mid_exec(paths: NexusPaths, run_id: str, command: str, pidfile: Path) -> int:
    """Run the worker until its exec printed, then kill -9 it; the pid of the command's shell."""
    err = (paths.home / "worker.err").open("wb")
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.agent.crash_worker", str(paths.home), run_id, command],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=err,
    )
    shell_pid = None
    try:
        spool_dir = paths.run / "tool-output"
        assert _wait(lambda: any("started" in p.read_text() for p in spool_dir.glob("*.out"))), (
            paths.home / "worker.err"
        ).read_text()
        shell_pid = int(pidfile.read_text())
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        err.close()
    assert shell_pid is not None
    return shell_pid


async def test_kill_9_mid_exec_then_resume(paths: NexusPaths, store: RunStore) -> None:
    run, _ = store.accept(session="s", text="deploy")
    store.claim(run.id)
    counter = paths.workspace / "count"
    pidfile = paths.workspace / "shell.pid"
    command = f"echo $$ > {pidfile}; echo ran >> {counter}; echo started; sleep 120"
    shell_pid = _crash_mid_exec(paths, run.id, command, pidfile)
    try:
        assert psutil.pid_exists(shell_pid), "the command should have outlived the killed gateway"
        assert [s.kind for s in store.steps(run.id)] == ["model_call", "tool_intent"]

        model = ScriptedModel.of(j.ModelCalled("the deploy may have happened; checking first", model="m"))
        end = await ToolLoop(store=store, world=make_world(paths, store)).run(
            run.id, model=model, started_at=time.time()
        )
        assert end.text.startswith("the deploy may have happened")
        (result,) = model.results()
        assert result.outcome is j.Outcome.INTERRUPTED and result.is_error
        assert "UNKNOWN" in result.content and "started" in result.content
        assert counter.read_text() == "ran\n"  # never rerun
        # the leftover tree of the dead gateway was killed at resume
        assert _wait(
            lambda: not psutil.pid_exists(shell_pid) or psutil.Process(shell_pid).status() == "zombie", 10
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell_pid, signal.SIGKILL)  # only ours, by its group id
