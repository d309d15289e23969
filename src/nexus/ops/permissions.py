"""Modes of the state directory and the files that hold secrets: a group- or world-readable token file
is a credential handed to every local user. ``--fix`` narrows modes of paths we own; it never changes
an owner and never touches a path that belongs to someone else."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nexus.common import NexusPaths
from nexus.ops.findings import Finding, Fix, FixKind, Severity, ok

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


@dataclass(frozen=True)
class PathFacts:
    path: str
    is_dir: bool
    mode: int
    """Permission bits only (``stat.S_IMODE``)."""
    uid: int


def secret_paths(paths: NexusPaths, store: Path) -> list[Path]:
    """The directories and files whose modes matter: every one of them can hold or reveal a secret."""
    store_dir_files = [store, store.with_name(store.stem + ".state.json")]
    db = paths.state_db
    return [
        paths.home,
        store.parent,
        *store_dir_files,
        paths.token_file,
        db,
        db.with_name(db.name + "-wal"),
        db.with_name(db.name + "-shm"),
    ]


def gather_permissions(candidates: Iterable[Path]) -> list[PathFacts]:
    facts: list[PathFacts] = []
    seen: set[str] = set()
    for path in candidates:
        key = str(path)
        if key in seen:
            continue
        seen.add(key)
        try:
            st = os.stat(path)
        except OSError:
            continue
        facts.append(PathFacts(key, stat.S_ISDIR(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid))
    return facts


def check_permissions(facts: Sequence[PathFacts], *, uid: int) -> list[Finding]:
    """Pure: one finding per path that others can read, or that is not ours."""
    findings: list[Finding] = []
    for fact in facts:
        want = PRIVATE_DIR if fact.is_dir else PRIVATE_FILE
        what = "directory" if fact.is_dir else "file"
        if fact.uid != uid:
            findings.append(
                Finding(
                    "permissions",
                    Severity.ERROR,
                    f"{what} {fact.path} belongs to uid {fact.uid}, not to you (uid {uid})",
                    remedy=f"check who created it; as its owner: `chown {uid} {fact.path}`",
                )
            )
        elif fact.mode & 0o077:
            findings.append(
                Finding(
                    "permissions",
                    Severity.WARN,
                    f"{what} {fact.path} has mode {fact.mode:04o}: other local users can read it",
                    remedy=f"chmod {want:04o} {fact.path}",
                    fix=Fix(FixKind.CHMOD, fact.path, mode=want),
                    details={"mode": f"{fact.mode:04o}"},
                )
            )
    if not findings:
        findings.append(
            ok("permissions", f"state directory and secret files are private ({len(facts)} checked)")
        )
    return findings


def apply_chmod(fix: Fix, *, uid: int) -> str:
    """Narrow a mode, only on a path we own, never following a symlink to somewhere else."""
    assert fix.kind is FixKind.CHMOD and fix.mode is not None
    st = os.lstat(fix.target)
    if stat.S_ISLNK(st.st_mode) or st.st_uid != uid:
        return f"left {fix.target} alone (a symlink, or not yours)"
    os.chmod(fix.target, stat.S_IMODE(st.st_mode) & fix.mode)
    return f"chmod {fix.mode:04o} {fix.target}"
