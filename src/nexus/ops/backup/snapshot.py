"""A consistent copy of ``state.db`` while the gateway writes to it.

SQLite's online backup API copies the database as of one read transaction: under WAL a reader never
blocks the writer and sees every transaction committed before it began, whole, and none after. Copying
the file with ``cp`` instead could tear a page or miss the ``-wal`` file holding the latest commits.
The copy is switched to ``journal_mode=DELETE`` (one self-contained file) and must pass
``PRAGMA integrity_check`` before it goes into an archive.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from nexus.ops.backup.errors import ArchiveDamaged, BackupError

BUSY_TIMEOUT_S = 10.0
COUNTED_TABLES = ("runs", "sessions", "channel_routes", "channel_outbox", "schedules")


def snapshot(source: Path, target: Path) -> dict[str, Any]:
    """Copy ``source`` into the new file ``target`` online; return its facts (integrity, row counts)."""
    if not source.exists():
        raise BackupError(f"{source} does not exist: nothing to back up (has the gateway ever run here?)")
    try:
        with (
            contextlib.closing(sqlite3.connect(source, timeout=BUSY_TIMEOUT_S)) as src,
            contextlib.closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy {source} with SQLite's backup API: {exc}") from exc
    return check(target)


def check(path: Path) -> dict[str, Any]:
    """``PRAGMA integrity_check`` and row counts of a database copy; ArchiveDamaged when it fails."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            answer = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            counts = {
                f"{name}_rows": conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                for name in COUNTED_TABLES
                if name in tables
            }
    except sqlite3.Error as exc:
        raise ArchiveDamaged(f"state.db is not a readable SQLite database ({exc})") from exc
    if answer != ["ok"]:
        raise ArchiveDamaged(f"state.db fails PRAGMA integrity_check: {'; '.join(answer[:5])}")
    return {"state_db_integrity": "ok", **counts}
