"""cgroup v2 containment: one cgroup per generation, emptied with one write to ``cgroup.kill``.

Used only where a writable cgroup v2 hierarchy exists (a delegated systemd user slice, root in a
container); otherwise :func:`CgroupTree.detect` returns None and the process-group fallback does the job.
A generation's child moves itself into its cgroup before it execs (see ``child.SHIM``), so every
descendant is born inside and none can escape by forking.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
SELF_CGROUP = Path("/proc/self/cgroup")


def cgroup2_mount(mountinfo: Path = MOUNTINFO) -> Path | None:
    """The cgroup2 mount point (``/sys/fs/cgroup`` or, on hybrid hosts, ``/sys/fs/cgroup/unified``)."""
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "cgroup2":
            return Path(left.split(" ")[4])
    return None


def own_cgroup(self_cgroup: Path = SELF_CGROUP) -> str | None:
    try:
        for line in self_cgroup.read_text().splitlines():
            if line.startswith("0::"):
                return line[3:]
    except OSError:
        return None
    return None


class CgroupTree:
    """``<our cgroup>/nexus-<id>/gen-<n>``: a directory per generation, under one per state directory."""

    def __init__(self, base: Path) -> None:
        self.base = base

    @classmethod
    def detect(
        cls, name: str, *, mountinfo: Path = MOUNTINFO, self_cgroup: Path = SELF_CGROUP
    ) -> CgroupTree | None:
        """Create (or reuse) our base cgroup if the hierarchy is writable; None means fall back."""
        mount = cgroup2_mount(mountinfo)
        current = own_cgroup(self_cgroup)
        if mount is None or current is None:
            return None
        base = mount / current.lstrip("/") / f"nexus-{name}"
        try:
            base.mkdir(exist_ok=True)
        except OSError:
            return None
        if not os.access(base / "cgroup.procs", os.W_OK):
            return None
        return cls(base)

    def generation(self, number: int) -> Path | None:
        path = self.base / f"gen-{number}"
        try:
            path.mkdir(exist_ok=True)
        except OSError:
            return None
        return path

    def existing(self) -> list[Path]:
        """Generation cgroups left by this or an earlier supervisor (one killed by SIGKILL included)."""
        try:
            return sorted(p for p in self.base.iterdir() if p.is_dir() and p.name.startswith("gen-"))
        except OSError:
            return []

    @staticmethod
    def pids(path: Path) -> list[int]:
        try:
            return [int(x) for x in (path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    @staticmethod
    def kill(path: Path) -> None:
        """SIGKILL every process in ``path``; without ``cgroup.kill`` (kernel < 5.14), one by one."""
        try:
            (path / "cgroup.kill").write_text("1")
            return
        except OSError:
            pass
        for pid in CgroupTree.pids(path):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    @staticmethod
    def signal_all(path: Path, sig: int) -> None:
        for pid in CgroupTree.pids(path):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    @staticmethod
    def try_remove(path: Path) -> bool:
        """Kill what is left and remove the cgroup; False while it is still populated (call again)."""
        CgroupTree.kill(path)
        try:
            path.rmdir()
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True
