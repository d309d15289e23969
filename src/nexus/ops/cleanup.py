"""Kill verified stale Nexus processes of one state directory, and nothing else (``nexus cleanup``,
``ExecStartPre``, ``doctor --fix``).

Why it holds the supervisor lock while it kills: a supervisor starting at the same moment would
otherwise have its brand-new gateway taken for a survivor. When a live supervisor holds the lock, only
processes outside its tree are candidates, and its own gateway is left alone. Every candidate is
re-verified (same pid *and* start time, still ours by marker or record, not live) right before the
signal, so a recycled pid can never be hit. The calling process and its ancestors are never candidates.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import psutil

from nexus.common import FileLock, NexusPaths
from nexus.ops.processes import ProcessFacts, ProcInfo, Role, ancestors, gather_processes, role_of, stale
from nexus.supervisor.records import RunFiles


@dataclass
class CleanupResult:
    killed: list[ProcInfo] = field(default_factory=list)
    left: list[int] = field(default_factory=list)
    """Pids still alive after the bound (uninterruptible sleep?)."""
    port_facts: ProcessFacts | None = None
    """The port as it is after the cleanup."""

    @property
    def foreign_holder(self) -> ProcInfo | None:
        if self.port_facts is None:
            return None
        return next((p for p in self.port_facts.listeners if role_of(p) is Role.FOREIGN), None)


def kill_stale(
    paths: NexusPaths,
    port: int,
    *,
    only: Iterable[tuple[int, float | None]] | None = None,
    unit_main_pid: int | None = None,
    timeout_s: float = 5.0,
) -> CleanupResult:
    """SIGKILL every verified stale process (restricted to ``only`` when given: what a finding named),
    wait up to ``timeout_s`` for them to vanish, then look at the port again."""
    paths.ensure()  # the lock lives in run/: create the tree with its private modes, not the umask's
    lock = FileLock(RunFiles.of(paths).lock)
    holding = lock.try_acquire()
    result = CleanupResult()
    try:
        facts = gather_processes(paths, port, unit_main_pid=unit_main_pid)
        wanted = None if only is None else set(only)
        mine = ancestors()  # never ourselves or whoever started us, even if they carry the marker
        victims = [
            p
            for p in stale(facts)
            if p.pid not in mine and (wanted is None or (p.pid, p.create_time) in wanted)
        ]
        procs: list[psutil.Process] = []
        for info in victims:
            proc = _verified(info)
            if proc is None:
                continue
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGKILL)
                procs.append(proc)
                result.killed.append(info)
        result.left = [p.pid for p in _wait_gone(procs, timeout_s)]
        result.port_facts = gather_processes(paths, port, unit_main_pid=unit_main_pid)
    finally:
        if holding:
            lock.release()
    return result


def _gone(proc: psutil.Process) -> bool:
    """Dead, or a zombie: it holds no port and no memory, only its parent's wait status."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _wait_gone(procs: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    left = [p for p in procs if not _gone(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.01)
        left = [p for p in left if not _gone(p)]
    return left


def _verified(info: ProcInfo) -> psutil.Process | None:
    """The process again, only if it is still the very one (pid and start time) and still stale."""
    if info.pid is None or role_of(info) is not Role.STALE:
        return None
    try:
        proc = psutil.Process(info.pid)
        if info.create_time is not None and proc.create_time() != info.create_time:
            return None
    except psutil.Error:
        return None
    return proc
