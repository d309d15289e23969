"""Is the store (and the state directory's locks and SQLite WAL) on a filesystem where ``flock`` works?
Reuses the auth package's mount parsing; the mount table path is injectable so tests describe any host."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nexus.auth.filesystem import UNRELIABLE_FSTYPES, mount_of, parse_mounts
from nexus.ops.findings import Finding, Severity, ok


@dataclass(frozen=True)
class PlacedPath:
    role: str
    """What lives there: ``auth store`` or ``state directory``."""
    path: str
    mount_point: str | None
    fstype: str | None


def unreliable(fstype: str | None) -> bool:
    return fstype is not None and (fstype in UNRELIABLE_FSTYPES or fstype.startswith("nfs"))


def _real(path: Path) -> Path:
    """The real path of ``path`` or of its nearest existing ancestor (it may not exist yet)."""
    path = Path(os.path.abspath(path))
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe.resolve() / path.relative_to(probe)


def gather_placements(places: Sequence[tuple[str, Path]], *, mounts_path: Path) -> list[PlacedPath]:
    try:
        mounts = parse_mounts(Path(mounts_path).read_text())
    except OSError:
        mounts = []
    out = []
    for role, path in places:
        mount = mount_of(_real(path), mounts)
        out.append(
            PlacedPath(role, str(path), mount.point if mount else None, mount.fstype if mount else None)
        )
    return out


def check_filesystems(placed: Sequence[PlacedPath], *, forced: bool) -> list[Finding]:
    """Pure: an error per path on nfs/cifs/9p/drvfs/virtiofs (a warning when the owner forced it)."""
    findings = []
    for place in placed:
        if not unreliable(place.fstype):
            continue
        findings.append(
            Finding(
                "filesystem",
                Severity.WARN if forced else Severity.ERROR,
                f"the {place.role} {place.path} is on {place.mount_point} ({place.fstype}), where flock "
                "does not reliably exclude other processes: two refreshers could spend one refresh token, "
                "two supervisors could both start"
                + (" (you set [auth] force_unreliable_fs)" if forced else ""),
                remedy=(
                    "keep NEXUS_HOME and the auth store on a local Linux filesystem (under WSL: inside the "
                    "Linux home, never /mnt/c); move it and set NEXUS_HOME / NEXUS_AUTH_STORE"
                ),
                details={"fstype": place.fstype, "mount": place.mount_point},
            )
        )
    if not findings:
        kinds = sorted({p.fstype for p in placed if p.fstype})
        findings.append(
            ok("filesystem", f"store and locks are on {', '.join(kinds) or 'an unknown filesystem'}")
        )
    return findings
