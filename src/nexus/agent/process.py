"""Run one shell command as its own process tree and take the whole tree down when asked.

The command starts in a new session (its own process group, so one ``killpg`` reaches it and every
descendant that stayed in the group), inherits the gateway generation's cgroup as any child does,
and gets rlimits set between fork and exec. Killing takes a snapshot of the descendants first
(psutil), then signals the group and every descendant found, so a grandchild that moved to a session
of its own dies too. Output is read as it comes and appended to a spool file, so a crash leaves the
partial output behind for the journal to report.

A background child that keeps the output pipe open (Hermes PR#12032 stalled a turn for 30 minutes)
cannot hold the call: once the shell itself exits, the rest of the output gets ``DRAIN_S``, then the
group is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

DRAIN_S = 0.5
CHUNK = 65_536


@dataclass(frozen=True)
class Limits:
    memory_bytes: int
    file_bytes: int
    open_files: int = 1024


@dataclass(frozen=True)
class Finished:
    exit_code: int | None
    """None when Nexus killed it (timeout)."""
    output: str
    total_bytes: int
    timed_out: bool
    elapsed_s: float


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid``'s process group and every descendant, wherever its session went."""
    try:
        descendants = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for proc in descendants:
        with contextlib.suppress(psutil.Error):
            proc.kill()


class _Capture:
    """Keeps the head and a rolling tail of the output within ``cap`` bytes, and the spool file."""

    def __init__(self, cap: int, spool: Path) -> None:
        self._cap = cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        spool.parent.mkdir(parents=True, exist_ok=True)
        self._spool = spool.open("ab", buffering=0)
        self._spool_left = cap * 4

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self._spool_left > 0:
            self._spool.write(chunk[: self._spool_left])
            self._spool_left -= len(chunk)
        room = self._cap // 2 - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self._cap // 2:
                del self.tail[: len(self.tail) - self._cap // 2]

    def text(self) -> str:
        kept = len(self.head) + len(self.tail)
        middle = f"\n[... {self.total - kept} bytes cut ...]\n" if self.total > kept else ""
        return self.head.decode("utf-8", "replace") + middle + self.tail.decode("utf-8", "replace")

    def close(self) -> None:
        self._spool.close()


async def run_command(
    command: str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    output_cap: int,
    limits: Limits,
    spool: Path,
    shell: str = "/bin/sh",
) -> Finished:
    """Run ``command`` under ``shell -c`` and return when it ended, timed out, or raise if cancelled
    (after killing the tree)."""
    started = time.monotonic()
    capture = _Capture(output_cap, spool)
    proc = await asyncio.create_subprocess_exec(
        shell,
        "-c",
        command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=str(cwd),
        env=dict(env),
        start_new_session=True,
        preexec_fn=lambda: _apply_limits(limits),
    )
    assert proc.stdout is not None
    _write_pidfile(spool, proc.pid)
    timed_out = False

    async def pump() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(CHUNK):
            capture.add(chunk)

    reader = asyncio.create_task(pump())
    try:
        try:
            # not proc.wait(): on some Pythons it also waits for the pipes, which a background child holds
            await asyncio.wait_for(exited(proc.pid), timeout_s)
        except TimeoutError:
            timed_out = True
            kill_tree(proc.pid)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reader), DRAIN_S)
    finally:
        kill_tree(proc.pid)  # background children of a finished shell included
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(proc.wait(), 5)
        capture.close()
        pidfile(spool).unlink(missing_ok=True)
    return Finished(
        exit_code=None if timed_out else proc.returncode,
        output=capture.text(),
        total_bytes=capture.total,
        timed_out=timed_out,
        elapsed_s=time.monotonic() - started,
    )


def pidfile(spool: Path) -> Path:
    return spool.with_suffix(".pid")


def _write_pidfile(spool: Path, pid: int) -> None:
    """Who to kill if the gateway dies under this command: pid and start time (pids get reused)."""
    with contextlib.suppress(psutil.Error, OSError):
        started = psutil.Process(pid).create_time()
        pidfile(spool).write_text(f"{pid} {started}\n")


def reap_leftover(spool: Path) -> bool:
    """After a crash: kill the tree a command left running, if that very process is still there."""
    path = pidfile(spool)
    try:
        raw_pid, raw_started = path.read_text().split()
        pid, started = int(raw_pid), float(raw_started)
    except (OSError, ValueError):
        return False
    killed = False
    with contextlib.suppress(psutil.Error):
        if abs(psutil.Process(pid).create_time() - started) < 0.01:
            kill_tree(pid)
            killed = True
    path.unlink(missing_ok=True)
    return killed


async def exited(pid: int, *, pidfd: bool = True) -> None:
    """Return once ``pid`` has exited, without reaping it (asyncio's child watcher does that).

    pidfd where the kernel has it (readable at exit); a ``waitid(WNOWAIT)`` poll otherwise."""
    loop = asyncio.get_running_loop()
    fd = None
    if pidfd:
        with contextlib.suppress(AttributeError, OSError):
            fd = os.pidfd_open(pid)
    if fd is not None:
        done = loop.create_future()
        loop.add_reader(fd, lambda: done.done() or done.set_result(None))
        try:
            await done
        finally:
            loop.remove_reader(fd)
            os.close(fd)
        return
    while True:
        try:
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)  # noqa: ASYNC222 (WNOHANG)
        except ChildProcessError:
            return
        if info is not None:
            return
        await asyncio.sleep(0.02)


def _apply_limits(limits: Limits) -> None:
    """Between fork and exec: only async-signal-safe work (setrlimit)."""
    for which, value in (
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(which, (value, value))
