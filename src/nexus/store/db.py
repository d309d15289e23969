"""Open ``state.db`` (WAL) and bring its schema up to date with numbered, append-only migrations.

Durability choice: WAL with ``synchronous=NORMAL`` survives any crash of the gateway process (the
incident's failure mode: kill -9, OOM, restart loops); only a power loss can drop the last commits.
``NEXUS_SQLITE_SYNC=FULL`` trades throughput for power-loss durability.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from nexus.errors import NexusError


class StoreError(NexusError):
    """The state database cannot be opened, migrated or written."""


MIGRATIONS: tuple[str, ...] = (
    # 1: runs are the inbox and the transcript at once: a user message and the answer it got.
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        session TEXT NOT NULL,
        channel TEXT NOT NULL,
        sender TEXT,
        idempotency_key TEXT,
        text TEXT NOT NULL,
        status TEXT NOT NULL,
        answer TEXT,
        error TEXT,
        model TEXT,
        profile TEXT,
        fell_back INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL
    );
    CREATE UNIQUE INDEX runs_idempotency ON runs(session, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE INDEX runs_session_seq ON runs(session, seq);
    CREATE UNIQUE INDEX runs_seq ON runs(seq);
    CREATE INDEX runs_unfinished ON runs(status) WHERE status IN ('queued', 'running');
    CREATE TABLE run_steps (
        run_id TEXT NOT NULL REFERENCES runs(id),
        idx INTEGER NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (run_id, idx)
    );
    CREATE TABLE sessions (
        name TEXT PRIMARY KEY,
        pinned_model TEXT,
        created_at REAL NOT NULL
    );
    """,
    # 2: channels. A route (written before the run is accepted) says where a run's answer goes; the
    # outbox holds every outbound channel message until the platform took it; pairings are strangers'
    # one-time codes and the owner's approvals.
    """
    CREATE TABLE channel_routes (
        session TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        channel TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        sender TEXT NOT NULL,
        placeholder_id TEXT,
        queued_at REAL,
        created_at REAL NOT NULL,
        PRIMARY KEY (session, idempotency_key)
    );
    CREATE INDEX channel_routes_unqueued ON channel_routes(created_at) WHERE queued_at IS NULL;
    CREATE TABLE channel_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        dedupe_key TEXT NOT NULL UNIQUE,
        run_id TEXT,
        text TEXT NOT NULL,
        reply_to TEXT,
        status TEXT NOT NULL,
        parts_done INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        created_at REAL NOT NULL,
        sent_at REAL
    );
    CREATE INDEX channel_outbox_due ON channel_outbox(channel, next_attempt_at) WHERE status = 'pending';
    CREATE TABLE channel_pairings (
        channel TEXT NOT NULL,
        sender TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        code TEXT NOT NULL,
        created_at REAL NOT NULL,
        reminded_at REAL,
        approved_at REAL,
        PRIMARY KEY (channel, sender)
    );
    CREATE UNIQUE INDEX channel_pairings_code ON channel_pairings(channel, code);
    """,
    # 3: approvals. One row per tool call that needs the owner's yes (keyed by the call, so a crash and
    # a resume find the same approval under the same id), bound to the exact input it was asked for.
    """
    CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        session TEXT,
        call_key TEXT NOT NULL UNIQUE,
        tool TEXT NOT NULL,
        subject TEXT NOT NULL,
        subject_hash TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        decided_at REAL,
        decided_by TEXT
    );
    CREATE INDEX approvals_pending ON approvals(expires_at) WHERE status = 'pending';
    """,
    # 4: client tools (/v1 with ``tools``). The client's tool set and its own conversation (JSON), so a
    # resumed run asks the model exactly what the client sent; such a run is not in the session history.
    """
    ALTER TABLE runs ADD COLUMN client_turn TEXT;
    """,
    # 5: schedules. A job's next slot is stored, so a restart continues from the last stored slot
    # instead of recomputing from "now"; a fire row is unique per (job, slot) and is inserted in the
    # same transaction as its run, so a slot can never fire twice. A lease names the one scheduler.
    """
    CREATE TABLE cron_jobs (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        expr TEXT NOT NULL,
        tz TEXT NOT NULL,
        message TEXT NOT NULL,
        session TEXT NOT NULL,
        deliver TEXT,
        catch_up TEXT NOT NULL,
        source TEXT NOT NULL,
        anchor INTEGER NOT NULL,
        next_due INTEGER,
        run_requested_at REAL,
        failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX cron_jobs_due ON cron_jobs(next_due) WHERE next_due IS NOT NULL;
    CREATE TABLE cron_fires (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job TEXT NOT NULL,
        scheduled_for INTEGER NOT NULL,
        manual INTEGER NOT NULL DEFAULT 0,
        missed INTEGER NOT NULL DEFAULT 0,
        run_id TEXT,
        status TEXT NOT NULL,
        fired_at REAL NOT NULL,
        outcome_at REAL,
        UNIQUE (job, scheduled_for)
    );
    CREATE INDEX cron_fires_run ON cron_fires(run_id) WHERE run_id IS NOT NULL;
    CREATE INDEX cron_fires_open ON cron_fires(status) WHERE status = 'fired';
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at REAL NOT NULL,
        acquired_at REAL NOT NULL
    );
    """,
    # 6: memory. Every message and answer is indexed by triggers, so the index is written in the very
    # transaction that commits the run (the active session included); the trigram tokenizer finds
    # Chinese and Japanese text, which has no spaces between words. Summaries of compacted sessions
    # stand in for old runs in the prompt; the runs themselves stay.
    """
    CREATE VIRTUAL TABLE memory_fts USING fts5(
        body, session UNINDEXED, run_id UNINDEXED, role UNINDEXED, created_at UNINDEXED,
        tokenize = 'trigram'
    );
    CREATE TRIGGER runs_memory_text AFTER INSERT ON runs BEGIN
        INSERT INTO memory_fts (body, session, run_id, role, created_at)
        VALUES (new.text, new.session, new.id, 'user', new.created_at);
    END;
    CREATE TRIGGER runs_memory_answer AFTER UPDATE OF answer ON runs
    WHEN new.answer IS NOT NULL AND new.answer IS NOT old.answer BEGIN
        INSERT INTO memory_fts (body, session, run_id, role, created_at)
        VALUES (new.answer, new.session, new.id, 'assistant', COALESCE(new.finished_at, new.created_at));
    END;
    INSERT INTO memory_fts (body, session, run_id, role, created_at)
        SELECT text, session, id, 'user', created_at FROM runs;
    INSERT INTO memory_fts (body, session, run_id, role, created_at)
        SELECT answer, session, id, 'assistant', COALESCE(finished_at, created_at) FROM runs
        WHERE answer IS NOT NULL;
    CREATE TABLE session_summaries (
        session TEXT NOT NULL,
        upto_seq INTEGER NOT NULL,
        summary TEXT NOT NULL,
        runs INTEGER NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (session, upto_seq)
    );
    """,
    # 7: tool results join the memory index, in the transaction that commits the result step. Only
    # results that succeeded; never memory_search's own (a search would find its earlier searches).
    """
    CREATE TRIGGER steps_memory_tool AFTER INSERT ON run_steps
    WHEN new.kind = 'tool_result'
        AND json_extract(new.payload, '$.is_error') IS NOT 1
        AND json_extract(new.payload, '$.name') IS NOT 'memory_search'
        AND COALESCE(json_extract(new.payload, '$.content'), '') != '' BEGIN
        INSERT INTO memory_fts (body, session, run_id, role, created_at)
        SELECT json_extract(new.payload, '$.content'), runs.session, new.run_id, 'tool', new.created_at
        FROM runs WHERE runs.id = new.run_id;
    END;
    INSERT INTO memory_fts (body, session, run_id, role, created_at)
        SELECT json_extract(s.payload, '$.content'), r.session, s.run_id, 'tool', s.created_at
        FROM run_steps s JOIN runs r ON r.id = s.run_id
        WHERE s.kind = 'tool_result' AND json_extract(s.payload, '$.is_error') IS NOT 1
            AND json_extract(s.payload, '$.name') IS NOT 'memory_search'
            AND COALESCE(json_extract(s.payload, '$.content'), '') != ''
        ORDER BY s.rowid;
    """,
)


def open_database(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) and migrate; raises :class:`StoreError` naming the file and the fix."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        make_private(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
        conn.row_factory = sqlite3.Row
        # a row with broken UTF-8 must not make a whole session unreadable
        conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
        conn.execute("PRAGMA journal_mode=WAL")
        sync = os.environ.get("NEXUS_SQLITE_SYNC", "NORMAL").upper()
        conn.execute(f"PRAGMA synchronous={'FULL' if sync == 'FULL' else 'NORMAL'}")
        conn.execute("PRAGMA foreign_keys=ON")
        _migrate(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"cannot open state database {path}: {exc}. If it is corrupt, move it aside "
            f"(mv {path} {path}.broken) and start again; `nexus doctor` checks it"
        ) from exc
    return conn


PRIVATE = 0o600
SIDE_FILES = ("-wal", "-shm", "-journal")


def make_private(path: Path) -> None:
    """Create ``path`` 0600 before SQLite opens it, and narrow what an older Nexus left wider.

    SQLite creates ``-wal``, ``-shm`` and ``-journal`` with the database file's own mode, so a
    database that is private from its creation has private side files from theirs: no window in
    which the transcript is world-readable, and no process-wide umask change.
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
    for candidate in (path, *(path.with_name(path.name + side) for side in SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            if candidate.stat().st_mode & 0o777 != PRIVATE:
                candidate.chmod(PRIVATE)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (``BEGIN IMMEDIATE``: the write lock up front, so no upgrade deadlock);
    rolled back on any exception, committed otherwise. The one helper every store uses."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _migrate(conn: sqlite3.Connection) -> None:
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > len(MIGRATIONS):
        raise StoreError(
            f"state database schema v{current} is newer than this Nexus (v{len(MIGRATIONS)}): upgrade Nexus"
        )
    for version in range(current, len(MIGRATIONS)):
        with transaction(conn):
            for statement in _split(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={version + 1}")


def _split(script: str) -> list[str]:
    """Statements of a migration, whole: a trigger body's inner ``;`` does not end its statement."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return [s for s in statements if s.strip(" ;\n")]
