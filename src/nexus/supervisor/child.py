"""Spawning one generation: its own session, the listening socket at fd 3, output into a pipe.

The child is started through a two-line ``/bin/sh`` shim that (1) moves itself into the generation's
cgroup when there is one, so every descendant is born inside, and (2) sets ``LISTEN_PID`` to its own
pid, which only the child can know, then ``exec``s the real command under the same pid.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from nexus.supervisor.kernel import open_pidfd
from nexus.supervisor.listener import LISTEN_FD

SHIM = (
    'if [ -n "$NEXUS_CGROUP_PROCS" ]; then echo $$ > "$NEXUS_CGROUP_PROCS" 2>/dev/null || :; fi; '
    'unset NEXUS_CGROUP_PROCS; LISTEN_PID=$$; export LISTEN_PID; exec "$@"'
)
SHELL = "/bin/sh"
MARKER_ENV = "NEXUS_SUPERVISOR_ID"
GENERATION_ENV = "NEXUS_GENERATION"
_SCRUBBED = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


@dataclass(frozen=True)
class ChildSpec:
    """What to run and how it finds the supervisor."""

    argv: Sequence[str]
    environ: Mapping[str, str]
    notify_address: str
    watchdog_usec: int
    marker: str


@dataclass
class Generation:
    number: int
    pid: int
    pidfd: int | None
    cgroup: Path | None
    output_fd: int
    """Read end of the child's stdout+stderr pipe (non-blocking)."""
    started_mono: float
    started_wall: float
    create_time: float | None
    cmdline: list[str] = field(default_factory=list)

    @property
    def pgid(self) -> int:
        return self.pid  # setsid made it leader of its own session and group

    def close_fds(self) -> None:
        for fd in (self.pidfd, self.output_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.pidfd = None
        self.output_fd = -1


def child_environment(spec: ChildSpec, number: int, cgroup: Path | None, *, listen: bool) -> dict[str, str]:
    env = {k: v for k, v in spec.environ.items() if k not in _SCRUBBED}
    if listen:
        env["LISTEN_FDS"] = "1"
        env["LISTEN_FDNAMES"] = "nexus"
    env["NOTIFY_SOCKET"] = spec.notify_address
    env["WATCHDOG_USEC"] = str(spec.watchdog_usec)
    env[MARKER_ENV] = spec.marker
    env[GENERATION_ENV] = str(number)
    env["PYTHONUNBUFFERED"] = env.get("PYTHONUNBUFFERED", "1")
    if cgroup is not None:
        env["NEXUS_CGROUP_PROCS"] = str(cgroup / "cgroup.procs")
    return env


def spawn(
    spec: ChildSpec,
    number: int,
    *,
    listen_fd: int | None,
    cgroup: Path | None,
    now_mono: float,
    now_wall: float,
    use_pidfd: bool,
) -> Generation:
    """Start generation ``number``. Every fd of ours is close-on-exec, so the child gets exactly 0-3."""
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK) if hasattr(os, "pipe2") else os.pipe()
    os.set_blocking(read_fd, False)
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    actions: list[tuple[int, ...]] = [
        (os.POSIX_SPAWN_DUP2, devnull, 0),
        (os.POSIX_SPAWN_DUP2, write_fd, 1),
        (os.POSIX_SPAWN_DUP2, write_fd, 2),
    ]
    if listen_fd is not None:
        actions.append((os.POSIX_SPAWN_DUP2, listen_fd, LISTEN_FD))
    env = child_environment(spec, number, cgroup, listen=listen_fd is not None)
    argv = [SHELL, "-c", SHIM, "nexus-child", *spec.argv]
    try:
        os.set_blocking(write_fd, True)
        pid = os.posix_spawn(SHELL, argv, env, file_actions=actions, setsid=True)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
        os.close(devnull)
    pidfd = open_pidfd(pid) if use_pidfd else None
    try:
        create_time: float | None = psutil.Process(pid).create_time()
    except psutil.Error:
        create_time = None
    return Generation(
        number=number,
        pid=pid,
        pidfd=pidfd,
        cgroup=cgroup,
        output_fd=read_fd,
        started_mono=now_mono,
        started_wall=now_wall,
        create_time=create_time,
        cmdline=list(spec.argv),
    )


def describe_status(status: int) -> tuple[int | None, int | None]:
    """A ``waitpid`` status as (exit code, signal)."""
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status), None
    return None, None


def process_stopped(pid: int) -> bool:
    """True when ``pid`` is stopped by a signal (SIGSTOP, state T); not when a debugger traces it (t)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except psutil.Error:
        return False
