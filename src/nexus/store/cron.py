"""Cron jobs, their fires and the scheduler lease in SQLite.

Exactly once per slot: :meth:`CronStore.fire` inserts the ``(job, scheduled_for)`` fire row, the run
it starts, and the job's next slot in ONE transaction. Either all of it commits (the run is durable
and start-up recovery resumes it after a crash) or none of it does (the slot is still due and fires
at the next start). A second scheduler racing for the same slot hits the UNIQUE constraint and the
compare-and-set on ``next_due``, and fires nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from nexus.schedule import CatchUp, JobDefinition, Kind, Schedule, after_outcome, next_slot, parse_duration
from nexus.schedule.job import parse_deliver
from nexus.store.db import StoreError, transaction
from nexus.store.runs import NewRun, Run, insert_new_runs, new_run_id

log = logging.getLogger(__name__)

CRON_CHANNEL = "cron"
SCHEDULER_LEASE = "scheduler"


class DuplicateJob(StoreError):
    """A job of that name exists already."""


class JobNotFound(StoreError):
    """No job of that name."""


@dataclass(frozen=True)
class Job(JobDefinition):
    """A stored job: its definition plus what the scheduler keeps about it."""

    source: str
    anchor: int
    next_due: int | None
    run_requested_at: float | None
    failures: int
    last_error: str | None
    created_at: float


@dataclass(frozen=True)
class Fired:
    """One fire committed by :meth:`CronStore.fire`; ``run`` is None when the fire was skipped."""

    job: str
    scheduled_for: int
    run: Run | None
    missed: int
    manual: bool


@dataclass(frozen=True)
class FireRequest:
    """What the planner decided for one job in one wake."""

    job: Job
    slots: tuple[int, ...]
    next_due: int | None
    missed: int = 0
    manual_at: float | None = None


@dataclass(frozen=True)
class Outcome:
    job: Job
    scheduled_for: int
    ok: bool
    error: str | None
    alert: bool
    """True when this failure makes ``ALERT_AFTER`` in a row (or more): tell the owner."""
    text: str | None
    """What was to be said (None: nothing, e.g. ``HEARTBEAT_OK``)."""
    queued: bool
    """True when ``text`` went to the channel outbox (else it goes to the log)."""


_CLAIM = "UPDATE cron_jobs SET next_due = ?, updated_at = ? WHERE name = ? AND next_due IS ?"
"""Compare-and-set of a job's next slot: the claim of its due slots by one scheduler."""
_INSERT_FIRE = (
    "INSERT OR IGNORE INTO cron_fires (job, scheduled_for, manual, missed, run_id, status, fired_at,"
    " outcome_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class _Contended(StoreError):
    """A job of a batch was claimed, or one of its slots fired, by someone else."""


@dataclass(frozen=True)
class _PlannedFire:
    job: Job
    slot: int
    folded: int
    body: str | None
    """The run's message; None: the fire is recorded as skipped and starts no run."""
    run_id: str | None

    def row(self, now: float, *, manual: bool) -> tuple[object, ...]:
        skipped = self.body is None
        status = "skipped" if skipped else "fired"
        return (
            self.job.name,
            self.slot,
            int(manual),
            self.folded,
            self.run_id,
            status,
            now,
            now if skipped else None,
        )

    def new_run(self) -> NewRun:
        assert self.body is not None and self.run_id is not None
        key = f"cron:{self.job.name}:{self.slot}"
        return NewRun(self.run_id, self.job.session, self.body, CRON_CHANNEL, self.job.name, key)


def _planned(request: FireRequest, build: Callable[[Job, int, int], str | None]) -> list[_PlannedFire]:
    """The request's slots with their messages; missed slots are counted on the last one."""
    planned = []
    for index, slot in enumerate(request.slots):
        folded = request.missed if index == len(request.slots) - 1 else 0
        body = build(request.job, slot, folded)
        planned.append(
            _PlannedFire(request.job, slot, folded, body, new_run_id() if body is not None else None)
        )
    return planned


_JOB_COLUMNS = (
    "name, kind, expr, tz, message, session, deliver, catch_up, source, anchor, next_due, "
    "run_requested_at, failures, last_error, created_at"
)


def _job(row: sqlite3.Row) -> Job:
    kind = Kind(row["kind"])
    schedule = Schedule(kind, row["expr"], row["tz"])
    if kind is Kind.EVERY:
        schedule = Schedule(kind, row["expr"], row["tz"], period_s=parse_duration(row["expr"]))
    return Job(
        name=row["name"],
        schedule=schedule,
        message=row["message"],
        session=row["session"],
        deliver=parse_deliver(row["deliver"]),
        catch_up=CatchUp(row["catch_up"]),
        source=row["source"],
        anchor=row["anchor"],
        next_due=row["next_due"],
        run_requested_at=row["run_requested_at"],
        failures=row["failures"],
        last_error=row["last_error"],
        created_at=row["created_at"],
    )


class CronStore:
    def __init__(self, conn: sqlite3.Connection, *, now: Callable[[], float] = time.time) -> None:
        self._conn = conn
        self._now = now
        self._edits = 0

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._conn)

    def _edit(self) -> AbstractContextManager[sqlite3.Connection]:
        """A transaction that changes what a job is (not just its next slot)."""
        self._edits += 1
        return transaction(self._conn)

    def edit_token(self) -> tuple[int, int]:
        """Changes when a job is added, replaced, removed or asked to run, here or by another process
        (SQLite's ``data_version``): a plan read before a slot is still good while this stays equal."""
        return self._edits, self._conn.execute("PRAGMA data_version").fetchone()[0]

    # -- jobs -------------------------------------------------------------------------------------

    def add(self, definition: JobDefinition, *, source: str = "cli", replace: bool = False) -> Job:
        """Store a job whose first slot is computed from now; a duplicate name stores nothing."""
        now = self._now()
        anchor = int(now)
        first = next_slot(definition.schedule, after=anchor, anchor=anchor)
        with self._edit() as conn:
            existing = conn.execute(
                "SELECT source FROM cron_jobs WHERE name = ?", (definition.name,)
            ).fetchone()
            if existing is not None and not replace:
                raise DuplicateJob(
                    f"name: a job named {definition.name!r} exists already (from {existing['source']}); "
                    f"pick another name or remove it first: nexus cron remove {definition.name}"
                )
            if existing is not None:
                conn.execute("DELETE FROM cron_jobs WHERE name = ?", (definition.name,))
            conn.execute(
                f"INSERT INTO cron_jobs ({_JOB_COLUMNS}, updated_at) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, NULL, ?, ?)",
                (
                    definition.name,
                    definition.schedule.kind.value,
                    definition.schedule.expr,
                    definition.schedule.tz,
                    definition.message,
                    definition.session,
                    definition.deliver_text,
                    definition.catch_up.value,
                    source,
                    anchor,
                    first,
                    now,
                    now,
                ),
            )
        job = self.get(definition.name)
        assert job is not None
        return job

    def sync(self, definitions: Sequence[JobDefinition], *, source: str) -> tuple[list[str], list[str]]:
        """Make the jobs of ``source`` (``config``) exactly ``definitions``; unchanged ones keep their
        next slot, so a restart neither re-fires nor skips them. Returns ``(added, removed)`` names."""
        current = {job.name: job for job in self.jobs() if job.source == source}
        wanted = {d.name: d for d in definitions}
        added: list[str] = []
        for name, definition in wanted.items():
            job = current.get(name)
            if job is not None and job.same_definition(definition):
                continue
            other = self.get(name)
            if other is not None and other.source != source:
                raise DuplicateJob(
                    f"name: [[cron]] {name!r} clashes with a job added by {other.source}; "
                    f"rename the table or run `nexus cron remove {name}`"
                )
            self.add(definition, source=source, replace=True)
            added.append(name)
        removed = [name for name in current if name not in wanted]
        for name in removed:
            self.remove(name)
        return added, removed

    def remove(self, name: str) -> bool:
        with self._edit() as conn:
            gone = conn.execute("DELETE FROM cron_jobs WHERE name = ?", (name,)).rowcount
            conn.execute("DELETE FROM cron_fires WHERE job = ?", (name,))
        return gone == 1

    def get(self, name: str) -> Job | None:
        row = self._conn.execute(f"SELECT {_JOB_COLUMNS} FROM cron_jobs WHERE name = ?", (name,)).fetchone()
        return _job(row) if row is not None else None

    def jobs(self) -> list[Job]:
        rows = self._conn.execute(f"SELECT {_JOB_COLUMNS} FROM cron_jobs ORDER BY name").fetchall()
        return [_job(r) for r in rows]

    def request_run(self, name: str) -> Job:
        """Ask the scheduler to fire ``name`` now (``nexus cron run``); it does within a second."""
        with self._edit() as conn:
            changed = conn.execute(
                "UPDATE cron_jobs SET run_requested_at = ?, updated_at = ? WHERE name = ?",
                (self._now(), self._now(), name),
            ).rowcount
        if not changed:
            raise JobNotFound(f"no job named {name!r}; `nexus cron list` shows them")
        job = self.get(name)
        assert job is not None
        return job

    def due(self, now: float) -> list[Job]:
        rows = self._conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM cron_jobs WHERE next_due <= ? OR run_requested_at IS NOT NULL"
            " ORDER BY next_due",
            (int(now),),
        ).fetchall()
        return [_job(r) for r in rows]

    def next_wake(self) -> float | None:
        row = self._conn.execute("SELECT MIN(next_due) FROM cron_jobs").fetchone()
        return float(row[0]) if row[0] is not None else None

    # -- fires ------------------------------------------------------------------------------------

    def fire(
        self,
        job: Job,
        slots: Sequence[int],
        *,
        next_due: int | None,
        missed: int = 0,
        manual_at: float | None = None,
        text: Callable[[Job, int, int], str | None] | None = None,
    ) -> list[Fired]:
        """One job's fires (see :meth:`fire_all`)."""
        return self.fire_all([FireRequest(job, tuple(slots), next_due, missed, manual_at)], text=text)

    def fire_all(
        self, requests: Sequence[FireRequest], *, text: Callable[[Job, int, int], str | None] | None = None
    ) -> list[Fired]:
        """Commit each request's fires with their runs and the job's next slot, in one transaction
        (one commit for every job due in this wake: that is what keeps 1,000 jobs on time).

        If one job fails, the batch is retried job by job. ``text(job, slot, missed)`` builds the run's
        message (None: record the fire as skipped, no run). The update of ``next_due`` is a
        compare-and-set against the value this scheduler read, so a second scheduler that read the
        same job commits nothing for it.
        """
        build = text or (lambda job, slot, missed: job.message)
        now = self._now()
        try:
            with self._tx() as conn:
                if len(requests) > 1 and all(r.manual_at is None for r in requests):
                    return self._fire_batch(conn, requests, build, now)
                return [one for request in requests for one in self._fire_one(conn, request, build, now)]
        except Exception:
            if len(requests) == 1:
                log.exception("cron job %s could not fire; it stays due", requests[0].job.name)
                return []
        # one job broke the batch, or another scheduler claimed one of them (rolled back whole):
        # fire them one by one, each with its own compare-and-set, so the others still fire
        return [one for request in requests for one in self.fire_all([request], text=text)]

    def _fire_batch(
        self,
        conn: sqlite3.Connection,
        requests: Sequence[FireRequest],
        build: Callable[[Job, int, int], str | None],
        now: float,
    ) -> list[Fired]:
        """Every request claimed and fired in a few statements (a burst of 1,000 jobs on one second
        commits in ~40 ms instead of ~110); any contention raises, and :meth:`fire_all` goes job by job."""
        claimed = conn.executemany(
            _CLAIM, [(request.next_due, now, request.job.name, request.job.next_due) for request in requests]
        ).rowcount
        planned = [one for request in requests for one in _planned(request, build)]
        inserted = conn.executemany(_INSERT_FIRE, [one.row(now, manual=False) for one in planned]).rowcount
        if claimed != len(requests) or inserted != len(planned):
            raise _Contended("another scheduler fired part of this batch")
        runs = iter(
            insert_new_runs(conn, [one.new_run() for one in planned if one.body is not None], now=now)
        )
        return [
            Fired(one.job.name, one.slot, next(runs) if one.body is not None else None, one.folded, False)
            for one in planned
        ]

    def _fire_one(
        self,
        conn: sqlite3.Connection,
        request: FireRequest,
        build: Callable[[Job, int, int], str | None],
        now: float,
    ) -> list[Fired]:
        job, manual_at = request.job, request.manual_at
        if manual_at is not None:
            claimed = conn.execute(
                "UPDATE cron_jobs SET run_requested_at = NULL WHERE name = ? AND run_requested_at = ?",
                (job.name, manual_at),
            ).rowcount
        else:
            claimed = conn.execute(_CLAIM, (request.next_due, now, job.name, job.next_due)).rowcount
        if not claimed:
            return []
        fired: list[Fired] = []
        manual = manual_at is not None
        for one in _planned(request, build):
            if not conn.execute(_INSERT_FIRE, one.row(now, manual=manual)).rowcount:
                continue  # this slot fired already (another scheduler, or before a restart)
            run = insert_new_runs(conn, [one.new_run()], now=now)[0] if one.body is not None else None
            fired.append(Fired(job.name, one.slot, run, one.folded, manual))
        return fired

    def fire_of_run(self, run_id: str) -> tuple[str, int] | None:
        row = self._conn.execute(
            "SELECT job, scheduled_for FROM cron_fires WHERE run_id = ?", (run_id,)
        ).fetchone()
        return (row["job"], row["scheduled_for"]) if row is not None else None

    def record_outcome(
        self, run_id: str, *, ok: bool, error: str | None, message: Callable[[Job], str | None]
    ) -> Outcome | None:
        """A fire's run ended: mark the fire, reset or advance the job's failure backoff, and queue
        ``message(job)`` (None: nothing to say) to the job's ``deliver`` chat through the channel
        outbox, all in one transaction. Idempotent: only the first call for a fire does anything."""
        now = self._now()
        with self._tx() as conn:
            row = conn.execute(
                "UPDATE cron_fires SET status = ?, outcome_at = ? WHERE run_id = ? AND status = 'fired'"
                " RETURNING job, scheduled_for",
                ("done" if ok else "failed", now, run_id),
            ).fetchone()
            if row is None:
                return None
            job_row = conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM cron_jobs WHERE name = ?", (row["job"],)
            ).fetchone()
            if job_row is None:
                return None  # removed while its run was answering
            job = _job(job_row)
            failures, next_due, alert = after_outcome(
                job.schedule,
                failures=job.failures,
                ok=ok,
                finished_at=now,
                next_due=job.next_due,
                anchor=job.anchor,
            )
            conn.execute(
                "UPDATE cron_jobs SET failures = ?, next_due = ?, last_error = ?, updated_at = ? WHERE name = ?",
                (failures, next_due, None if ok else error, now, job.name),
            )
            text = message(job)
            queued = False
            if text is not None and job.deliver is not None:
                queued = (
                    conn.execute(
                        "INSERT OR IGNORE INTO channel_outbox (channel, chat_id, dedupe_key, run_id, text,"
                        " status, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                        (job.deliver[0], job.deliver[1], f"cron:{run_id}", run_id, text, now, now),
                    ).rowcount
                    == 1
                )
        updated = self.get(job.name) or job
        return Outcome(updated, row["scheduled_for"], ok, error, alert, text, queued)

    def unsettled(self) -> list[tuple[str, str, str | None]]:
        """Fires whose run finished while nobody recorded it (a crash): ``(run_id, status, error)``."""
        rows = self._conn.execute(
            "SELECT r.id, r.status, r.error FROM cron_fires f JOIN runs r ON r.id = f.run_id"
            " WHERE f.status = 'fired' AND r.status IN ('done', 'failed')"
        ).fetchall()
        return [(r["id"], r["status"], r["error"]) for r in rows]

    def fires(self, job: str, *, limit: int = 20) -> list[sqlite3.Row]:
        return self._conn.execute(
            "SELECT job, scheduled_for, manual, missed, run_id, status, fired_at, outcome_at FROM cron_fires"
            " WHERE job = ? ORDER BY scheduled_for DESC LIMIT ?",
            (job, limit),
        ).fetchall()


# -- the lease: one scheduler per home ------------------------------------------------------------


def holder_id() -> str:
    """``host:pid:random``: unique per process, and says which process to check for liveness."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _holder_dead(holder: str) -> bool:
    """True when the holder ran on this host and its process is gone (a crash: no need to wait)."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Lease:
    """A named lease in the state database, renewed by its holder, taken over when expired or when
    its holder's process is gone. The scheduler fires only while it holds ``scheduler``."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        name: str,
        *,
        holder: str | None = None,
        ttl_s: float = 10.0,
        now: Callable[[], float] = time.time,
        holder_dead: Callable[[str], bool] = _holder_dead,
    ) -> None:
        self._conn = conn
        self.name = name
        self.holder = holder or holder_id()
        self.ttl_s = ttl_s
        self._now = now
        self._dead = holder_dead

    def acquire(self) -> bool:
        """Take or renew; True while this process holds the lease."""
        now = self._now()
        with transaction(self._conn) as conn:
            row = conn.execute(
                "SELECT holder, expires_at FROM leases WHERE name = ?", (self.name,)
            ).fetchone()
            mine = row is not None and row["holder"] == self.holder
            free = row is None or row["expires_at"] <= now or (not mine and self._dead(row["holder"]))
            if mine or free:
                conn.execute(
                    "INSERT INTO leases (name, holder, expires_at, acquired_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,"
                    " acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at"
                    " ELSE excluded.acquired_at END",
                    (self.name, self.holder, now + self.ttl_s, now),
                )
        return mine or free

    def release(self) -> None:
        self._conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (self.name, self.holder))

    def current(self) -> str | None:
        row = self._conn.execute(
            "SELECT holder, expires_at FROM leases WHERE name = ?", (self.name,)
        ).fetchone()
        return row["holder"] if row is not None and row["expires_at"] > self._now() else None
