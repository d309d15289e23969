"""The ways to break a running sandbox from outside, one function each (the drill's I/O)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import psutil

from nexus.fakes.oauth_server import CLIENT_ID

SYS_PIDFD_GETFD = 438
"""The same number on every Linux architecture (the unified syscall table, since 5.6)."""

ORPHAN = r"""
import ctypes, os, socket, sys, time
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(int(sys.argv[1]))
fd = libc.syscall(438, pidfd, 3, 0)
if fd < 0:
    print("error", ctypes.get_errno(), flush=True)
    sys.exit(3)
sock = socket.socket(fileno=fd)
print("holding", flush=True)
held = []
while True:  # accept and never answer: what a stale gateway child does to a client
    conn, _ = sock.accept()
    held.append(conn)
"""


def kill(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def pidfd_getfd_available() -> str | None:
    """None when this host lets a process take another's descriptor, else why not."""
    if not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open"):
        return "needs Linux 5.6+ (pidfd_getfd)"
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(os.getpid())
    try:
        fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, 0, 0)
        if fd < 0:
            return f"pidfd_getfd refused here (errno {ctypes.get_errno()})"
        os.close(fd)
        return None
    finally:
        os.close(pidfd)


def escaped_orphan(gateway_pid: int) -> subprocess.Popen[bytes]:
    """A process with the gateway's environment (its marks included) and a copy of its listening
    socket, in a session of its own: the child that survived the crash in the incident."""
    env = psutil.Process(gateway_pid).environ()
    for key in ("LISTEN_FDS", "LISTEN_PID", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(key, None)
    proc = subprocess.Popen(
        [sys.executable, "-c", ORPHAN, str(gateway_pid)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if line != "holding":
        proc.kill()
        proc.wait(5)
        raise RuntimeError(f"the orphan could not take the socket: {line or 'no answer'}")
    return proc


def spend_refresh_token(token_url: str, refresh: str) -> None:
    """What Claude Code does on the same machine: refresh first, keep the new pair to itself."""
    answer = httpx.post(
        token_url,
        json={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": CLIENT_ID},
        timeout=10.0,
        trust_env=False,
    )
    if answer.status_code != 200:
        raise RuntimeError(f"the sibling's refresh failed: {answer.status_code} {answer.text[:200]}")


def kill_each_new_generation(
    pid_of: Callable[[], int | None], *, until: Callable[[], bool], timeout: float
) -> int:
    """SIGKILL every gateway generation as soon as it has a pid, until ``until()``; how many died."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        pid = pid_of()
        if pid and pid not in killed:
            kill(pid)
            killed.add(pid)
        time.sleep(0.005)
    return len(killed)
