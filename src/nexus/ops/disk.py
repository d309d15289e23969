"""Free space where the state directory lives: SQLite and the logs stop writing when it runs out."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from nexus.ops.findings import Finding, Severity, ok

MB = 1024 * 1024
ERROR_BELOW = 100 * MB
WARN_BELOW = 1024 * MB


@dataclass(frozen=True)
class DiskFacts:
    path: str
    free: int
    total: int


def gather_disk(path: Path) -> DiskFacts:
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return DiskFacts(str(path), usage.free, usage.total)


def check_disk(facts: DiskFacts) -> Finding:
    free_mb = facts.free // MB
    if facts.free < ERROR_BELOW:
        severity = Severity.ERROR
    elif facts.free < WARN_BELOW:
        severity = Severity.WARN
    else:
        return ok("disk", f"{free_mb} MB free for {facts.path}", free_mb=free_mb)
    return Finding(
        "disk",
        severity,
        f"only {free_mb} MB free for {facts.path}: runs cannot be committed when the disk is full",
        remedy="free space on that filesystem (old logs are in logs/; `nexus logs` never needs them all)",
        details={"free_mb": free_mb},
    )
