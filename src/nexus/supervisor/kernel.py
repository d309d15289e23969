"""Linux kernel features, each behind one seam with a fallback that works with process groups alone.

    feature     used for                                   fallback (macOS, old kernels, no rights)
    pidfd       exit noticed the instant it happens        SIGCHLD wakes the loop, waitpid reaps
    subreaper   double-forked escapees come back to us     they are found by the environment marker
    cgroup      every descendant killed in one write       killpg + session scan + marker scan

``NEXUS_SUPERVISOR_FEATURES`` (comma list of ``pidfd,subreaper,cgroup``, or ``none``) narrows what is
used; the tests set it to run every path on one Linux machine.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

PR_SET_CHILD_SUBREAPER = 36
FEATURES_ENV = "NEXUS_SUPERVISOR_FEATURES"
ALL_FEATURES = ("pidfd", "subreaper", "cgroup")


@dataclass(frozen=True)
class KernelFeatures:
    pidfd: bool
    subreaper: bool
    cgroup: bool

    @classmethod
    def detect(cls, environ: Mapping[str, str] | None = None) -> KernelFeatures:
        """What this kernel offers, narrowed by ``NEXUS_SUPERVISOR_FEATURES`` when set."""
        env = os.environ if environ is None else environ
        wanted = _parse_wanted(env.get(FEATURES_ENV))
        return cls(
            pidfd="pidfd" in wanted and pidfd_supported(),
            subreaper="subreaper" in wanted and sys.platform.startswith("linux"),
            cgroup="cgroup" in wanted and sys.platform.startswith("linux"),
        )

    def describe(self) -> str:
        on = [name for name in ALL_FEATURES if getattr(self, name)]
        return ",".join(on) if on else "process groups only"


def _parse_wanted(raw: str | None) -> set[str]:
    if raw is None or not raw.strip():
        return set(ALL_FEATURES)
    names = {part.strip() for part in raw.split(",") if part.strip()}
    if names == {"none"}:
        return set()
    unknown = names - set(ALL_FEATURES)
    if unknown:
        raise ValueError(
            f"{FEATURES_ENV}: unknown feature(s) {', '.join(sorted(unknown))}; "
            f"use a comma list of {', '.join(ALL_FEATURES)}, or 'none'"
        )
    return names


def pidfd_supported() -> bool:
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        fd = os.pidfd_open(os.getpid())
    except OSError:
        return False
    os.close(fd)
    return True


def open_pidfd(pid: int) -> int | None:
    """A pidfd for our own unreaped child (so the pid cannot have been recycled), or None."""
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):
        return None


def set_child_subreaper() -> bool:
    """Make orphaned descendants reparent to this process instead of init. False if unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    libc_name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
