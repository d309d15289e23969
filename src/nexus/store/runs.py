"""The durable inbox: every accepted message is a run row committed before it is acknowledged.

Life cycle (checked): queued -> running -> done | failed, and running -> queued when a crash
interrupted it (bounded by ``max_attempts``). A run is a sequence of committed steps; a resumed run
continues after its last committed step and never repeats a finished one. Runs double as the
transcript: a session's history is its finished runs in order.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from nexus.protocol.events import RunSnapshot
from nexus.store.db import StoreError, transaction

log = logging.getLogger(__name__)


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.DONE, RunStatus.FAILED)


ALLOWED_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.FAILED}),
    RunStatus.RUNNING: frozenset({RunStatus.DONE, RunStatus.FAILED, RunStatus.QUEUED}),
    RunStatus.DONE: frozenset(),
    RunStatus.FAILED: frozenset(),
}


@dataclass(frozen=True)
class Run:
    id: str
    seq: int
    session: str
    channel: str
    sender: str | None
    idempotency_key: str | None
    message: str
    """What the sender wrote (the API's ``message``); the assistant's reply is ``answer`` (the API's
    ``text``)."""
    status: RunStatus
    answer: str | None
    error: str | None
    model: str | None
    profile: str | None
    fell_back: bool
    attempts: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    client_turn: str | None = None
    """JSON of a /v1 request that brought its own tools (its tools and messages); None otherwise."""

    def snapshot(self) -> RunSnapshot:
        """The public shape of a run (HTTP, WebSocket, events): ``message`` in, ``text`` out."""
        return RunSnapshot(
            run_id=self.id,
            session=self.session,
            status=self.status.value,
            text=self.answer,
            error=self.error,
            model=self.model,
            fell_back=self.fell_back,
            message=self.message,
            created_at=self.created_at,
            finished_at=self.finished_at,
        )

    def to_api(self) -> dict[str, Any]:
        return self.snapshot().to_wire()


@dataclass(frozen=True)
class Step:
    run_id: str
    idx: int
    kind: str
    payload: dict[str, Any]


class InvalidRunTransition(StoreError):
    """A run was asked to move to a state its life cycle does not allow."""


_RUN_COLUMNS = (
    "id, seq, session, channel, sender, idempotency_key, text, status, answer, error, model, profile, "
    "fell_back, attempts, created_at, started_at, finished_at, client_turn"
)


def _row_to_run(row: sqlite3.Row) -> Run:
    return Run(
        id=row["id"],
        seq=row["seq"],
        session=row["session"],
        channel=row["channel"],
        sender=row["sender"],
        idempotency_key=row["idempotency_key"],
        message=row["text"] or "",
        status=RunStatus(row["status"]),
        answer=row["answer"],
        error=row["error"],
        model=row["model"],
        profile=row["profile"],
        fell_back=bool(row["fell_back"]),
        attempts=row["attempts"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        client_turn=row["client_turn"],
    )


def new_run_id() -> str:
    return f"run_{uuid.uuid4().hex[:20]}"


def insert_run(
    conn: sqlite3.Connection,
    *,
    session: str,
    text: str,
    channel: str,
    sender: str | None,
    idempotency_key: str | None,
    now: float,
    run_id: str | None = None,
    known_new: bool = False,
    client_turn: str | None = None,
) -> tuple[Run, bool]:
    """Insert a queued run inside the caller's open transaction (so another row, a cron fire, can
    commit with it atomically); an existing run with the same key is returned instead, unless the
    caller knows there is none (``known_new``: a fire row it has just inserted)."""
    if idempotency_key is not None and not known_new:
        existing = conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE session = ? AND idempotency_key = ?",
            (session, idempotency_key),
        ).fetchone()
        if existing is not None:
            return _row_to_run(existing), False
    run_id = run_id or new_run_id()
    row = conn.execute(
        "INSERT INTO runs (id, seq, session, channel, sender, idempotency_key, text, status,"
        " created_at, client_turn)"
        " VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM runs), ?, ?, ?, ?, ?, ?, ?, ?)"
        f" RETURNING {_RUN_COLUMNS}",
        (run_id, session, channel, sender, idempotency_key, text, RunStatus.QUEUED.value, now, client_turn),
    ).fetchone()
    conn.execute("INSERT OR IGNORE INTO sessions (name, created_at) VALUES (?, ?)", (session, now))
    return _row_to_run(row), True


@dataclass(frozen=True)
class NewRun:
    """A queued run to insert with others in one statement (:func:`insert_new_runs`)."""

    id: str
    session: str
    text: str
    channel: str
    sender: str | None
    idempotency_key: str | None


def insert_new_runs(conn: sqlite3.Connection, runs: list[NewRun], *, now: float) -> list[Run]:
    """Insert runs the caller knows are new (no idempotency lookup) inside its open transaction, in
    one statement each for runs and sessions: a burst of 1,000 cron fires commits in a third of the
    time of 1,000 :func:`insert_run` calls. The open ``BEGIN IMMEDIATE`` makes ``MAX(seq)`` safe."""
    if not runs:
        return []
    first = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM runs").fetchone()[0]
    queued = RunStatus.QUEUED.value
    conn.executemany(
        "INSERT INTO runs (id, seq, session, channel, sender, idempotency_key, text, status, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (r.id, first + i, r.session, r.channel, r.sender, r.idempotency_key, r.text, queued, now)
            for i, r in enumerate(runs)
        ],
    )
    conn.executemany(
        "INSERT OR IGNORE INTO sessions (name, created_at) VALUES (?, ?)", [(r.session, now) for r in runs]
    )
    return [
        Run(
            id=r.id,
            seq=first + i,
            session=r.session,
            channel=r.channel,
            sender=r.sender,
            idempotency_key=r.idempotency_key,
            message=r.text,
            status=RunStatus.QUEUED,
            answer=None,
            error=None,
            model=None,
            profile=None,
            fell_back=False,
            attempts=0,
            created_at=now,
            started_at=None,
            finished_at=None,
        )
        for i, r in enumerate(runs)
    ]


class RunStore:
    """All run and transcript I/O over one SQLite connection owned by the gateway's event loop."""

    def __init__(self, conn: sqlite3.Connection, *, now: Callable[[], float] = time.time) -> None:
        self._conn = conn
        self._now = now

    def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return transaction(self._conn)

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection, for other stores that must share its transactions (cron fires, memory)."""
        return self._conn

    def close(self) -> None:
        self._conn.close()

    # -- accept -----------------------------------------------------------------------------------

    def accept(
        self,
        *,
        session: str,
        text: str,
        channel: str = "api",
        sender: str | None = None,
        idempotency_key: str | None = None,
        client_turn: str | None = None,
    ) -> tuple[Run, bool]:
        """Commit a new run, or return the run an earlier send with the same key created.

        Returns ``(run, created)``; the commit happens before this returns, so acknowledging the
        sender after it can never lose the message.
        """
        with self._tx() as conn:
            return insert_run(
                conn,
                session=session,
                text=text,
                channel=channel,
                sender=sender,
                idempotency_key=idempotency_key,
                now=self._now(),
                client_turn=client_turn,
            )

    # -- read -------------------------------------------------------------------------------------

    def get(self, run_id: str) -> Run | None:
        row = self._conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _row_to_run(row) if row is not None else None

    def unfinished(self) -> list[Run]:
        """Queued and running runs in acceptance order."""
        rows = self._conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE status IN ('queued', 'running') ORDER BY seq"
        ).fetchall()
        return self._decode_rows(rows)

    def session_runs(self, session: str, *, limit: int = 50, before_seq: int | None = None) -> list[Run]:
        """The latest ``limit`` runs of a session (any status), oldest first."""
        bound = before_seq if before_seq is not None else 2**62
        rows = self._conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE session = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            (session, bound, limit),
        ).fetchall()
        return list(reversed(self._decode_rows(rows)))

    def history(self, session: str, *, before_seq: int, turns: int) -> list[Run]:
        """Finished, answered runs before ``before_seq``: the conversation a new run continues."""
        if turns <= 0:
            return []
        rows = self._conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE session = ? AND seq < ? AND status = 'done'"
            " AND answer IS NOT NULL AND client_turn IS NULL ORDER BY seq DESC LIMIT ?",
            (session, before_seq, turns),
        ).fetchall()
        return list(reversed(self._decode_rows(rows)))

    def queue_depth(self) -> int:
        return self._conn.execute(
            "SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running')"
        ).fetchone()[0]

    def status_counts(self) -> dict[str, int]:
        """How many runs are in each status (metrics: runs by state)."""
        rows = self._conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall()
        return {str(row[0]): int(row[1]) for row in rows}

    def ahead_of(self, run: Run) -> int:
        """How many unfinished runs of the same session come before ``run``."""
        return self._conn.execute(
            "SELECT COUNT(*) FROM runs WHERE session = ? AND seq < ? AND status IN ('queued', 'running')",
            (run.session, run.seq),
        ).fetchone()[0]

    def session_count(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]

    def pinned_model(self, session: str) -> str | None:
        row = self._conn.execute("SELECT pinned_model FROM sessions WHERE name = ?", (session,)).fetchone()
        return row["pinned_model"] if row is not None else None

    def pin_model(self, session: str, model: str | None) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO sessions (name, pinned_model, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET pinned_model = excluded.pinned_model",
                (session, model, self._now()),
            )

    def first_step_at(self, run_id: str) -> float | None:
        """When the run committed its first step: its wall-time budget counts from there, across crashes."""
        row = self._conn.execute(
            "SELECT MIN(created_at) FROM run_steps WHERE run_id = ?", (run_id,)
        ).fetchone()
        return row[0] if row is not None else None

    def steps(self, run_id: str) -> list[Step]:
        """Committed steps in order; a step whose payload cannot be read is skipped, not fatal."""
        result: list[Step] = []
        for row in self._conn.execute(
            "SELECT run_id, idx, kind, payload FROM run_steps WHERE run_id = ? ORDER BY idx", (run_id,)
        ):
            try:
                payload = json.loads(row["payload"])
            except (TypeError, ValueError):
                log.warning("skipping unreadable step %s/%s", run_id, row["idx"])
                continue
            result.append(Step(run_id=row["run_id"], idx=row["idx"], kind=row["kind"], payload=payload))
        return result

    def _decode_rows(self, rows: list[sqlite3.Row]) -> list[Run]:
        runs: list[Run] = []
        for row in rows:
            try:
                runs.append(_row_to_run(row))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("skipping unreadable run row: %s", exc)
        return runs

    # -- life cycle -------------------------------------------------------------------------------

    def _move(self, run_id: str, to: RunStatus, assignments: str, params: tuple[object, ...]) -> Run:
        """One guarded UPDATE: applies only if the run's current state allows ``to`` (checked life cycle)."""
        allowed = [state.value for state, targets in ALLOWED_TRANSITIONS.items() if to in targets]
        marks = ", ".join("?" for _ in allowed)
        row = self._conn.execute(
            f"UPDATE runs SET status = ?, {assignments} WHERE id = ? AND status IN ({marks}) RETURNING {_RUN_COLUMNS}",
            (to.value, *params, run_id, *allowed),
        ).fetchone()
        if row is None:
            current = self.get(run_id)
            if current is None:
                raise StoreError(f"no run {run_id}")
            raise InvalidRunTransition(f"run {run_id}: {current.status.value} -> {to.value} is not allowed")
        return _row_to_run(row)

    def claim(self, run_id: str) -> Run:
        """queued -> running; counts the attempt so crash loops on one message are bounded."""
        return self._move(
            run_id, RunStatus.RUNNING, "attempts = attempts + 1, started_at = ?", (self._now(),)
        )

    def release(self, run_id: str) -> Run:
        """running -> queued without counting the attempt: the gateway is stopping in order, the run
        did nothing wrong, and it resumes first thing at the next start."""
        return self._move(run_id, RunStatus.QUEUED, "attempts = MAX(attempts - 1, 0), started_at = NULL", ())

    def add_step(self, run_id: str, kind: str, payload: dict[str, Any]) -> Step:
        with self._tx() as conn:
            idx = conn.execute(
                "SELECT COALESCE(MAX(idx), -1) + 1 FROM run_steps WHERE run_id = ?", (run_id,)
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO run_steps (run_id, idx, kind, payload, created_at) VALUES (?, ?, ?, ?, ?)",
                (run_id, idx, kind, json.dumps(payload), self._now()),
            )
        return Step(run_id=run_id, idx=idx, kind=kind, payload=payload)

    def finish(
        self,
        run_id: str,
        *,
        answer: str,
        model: str | None,
        profile: str | None = None,
        fell_back: bool = False,
        step: tuple[str, dict[str, Any]] | None = None,
    ) -> Run:
        """running -> done, with the answer (and the step that produced it) in one transaction."""
        with self._tx() as conn:
            if step is not None:
                kind, payload = step
                conn.execute(
                    "INSERT INTO run_steps (run_id, idx, kind, payload, created_at) VALUES"
                    " (?, (SELECT COALESCE(MAX(idx), -1) + 1 FROM run_steps WHERE run_id = ?), ?, ?, ?)",
                    (run_id, run_id, kind, json.dumps(payload), self._now()),
                )
            return self._move(
                run_id,
                RunStatus.DONE,
                "answer = ?, model = ?, profile = ?, fell_back = ?, error = NULL, finished_at = ?",
                (answer, model, profile, int(fell_back), self._now()),
            )

    def fail(self, run_id: str, error: str, *, model: str | None = None) -> Run:
        """queued|running -> failed, with a reason the sender can read."""
        return self._move(
            run_id,
            RunStatus.FAILED,
            "error = ?, model = COALESCE(?, model), finished_at = ?",
            (error, model, self._now()),
        )

    def recover(self, *, max_attempts: int) -> tuple[list[Run], list[Run]]:
        """After a crash: requeue interrupted runs, fail those interrupted too often.

        Returns ``(resumable, failed)``; ``resumable`` holds every unfinished run in order.
        """
        failed: list[Run] = []
        with self._tx() as conn:
            rows = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE status = 'running'").fetchall()
            for row in rows:
                run = _row_to_run(row)
                if run.attempts >= max_attempts:
                    conn.execute(
                        "UPDATE runs SET status = 'failed', error = ?, finished_at = ? WHERE id = ?",
                        (
                            f"the gateway stopped {run.attempts} times while answering this message;"
                            " gave up so the rest of the conversation can go on (see `nexus logs`)",
                            self._now(),
                            run.id,
                        ),
                    )
                    failed.append(run)
                else:
                    conn.execute("UPDATE runs SET status = 'queued' WHERE id = ?", (run.id,))
        return self.unfinished(), [r for r in (self.get(f.id) for f in failed) if r is not None]
