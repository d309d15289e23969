"""Refuse to keep the credential store where ``flock`` cannot be trusted.

The whole refresh protocol rests on one host-wide ``flock`` per account. On network and
host-shared filesystems (nfs, cifs/smb, 9p and drvfs as used by WSL's /mnt/c, virtiofs, sshfs)
flock is emulated, local to one client, or silently a no-op, and two refreshers would both spend the
same single-use refresh token: the incident again. The mount table is read from an injectable path
so tests can describe any machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nexus.auth.errors import UnreliableFilesystem

UNRELIABLE_FSTYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "9p",
        "drvfs",
        "virtiofs",
        "fuse.sshfs",
        "afs",
        "ceph",
        "glusterfs",
    }
)
PROC_MOUNTS = Path("/proc/mounts")


@dataclass(frozen=True)
class Mount:
    device: str
    point: str
    fstype: str


def parse_mounts(text: str) -> list[Mount]:
    """Parse ``/proc/mounts`` lines; mount points escape spaces and friends as octal (``\\040``)."""
    mounts: list[Mount] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        mounts.append(Mount(device=parts[0], point=_unescape(parts[1]), fstype=parts[2]))
    return mounts


def _unescape(field: str) -> str:
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_of(path: Path, mounts: list[Mount]) -> Mount | None:
    """The mount holding ``path``: the longest mount point that is a prefix of it (last one wins)."""
    target = str(path)
    best: Mount | None = None
    for mount in mounts:
        point = mount.point.rstrip("/") or "/"
        inside = point == "/" or target == point or target.startswith(point + "/")
        if inside and (best is None or len(point) >= len(best.point.rstrip("/") or "/")):
            best = mount
    return best


def _resolved(path: Path) -> Path:
    """The real path of ``path`` or of its nearest existing ancestor (the store may not exist yet)."""
    path = Path(os.path.abspath(path))
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe.resolve() / path.relative_to(probe)


def check_filesystem(path: Path, *, force: bool = False, mounts_path: Path = PROC_MOUNTS) -> Mount | None:
    """Raise :class:`UnreliableFilesystem` if ``path`` sits on a filesystem where flock is unreliable.

    Returns the mount found (None when the mount table cannot be read: then we cannot tell, and go on).
    """
    try:
        mounts = parse_mounts(Path(mounts_path).read_text())
    except OSError:
        return None
    mount = mount_of(_resolved(path), mounts)
    if mount is None or force:
        return mount
    if mount.fstype in UNRELIABLE_FSTYPES or mount.fstype.startswith("nfs"):
        raise UnreliableFilesystem(
            f"the auth store {path} would live on {mount.point} ({mount.fstype}), where flock does not "
            "reliably exclude other processes, so two programs could spend the same refresh token. "
            "Keep it on a local Linux filesystem (the default ~/.nexus/auth-profiles.json inside the "
            "Linux home, not /mnt/c), by setting NEXUS_AUTH_STORE or [auth] store; or, if you accept "
            "the risk, pass --force or set [auth] force_unreliable_fs = true."
        )
    return mount
