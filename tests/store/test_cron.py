"""Jobs, fires and the lease on a real SQLite file; crashes and races with real processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from nexus.gateway.scheduler import Scheduler
from nexus.schedule import define_job
from nexus.store import RunStatus, RunStore, open_database
from nexus.store.cron import CronStore, DuplicateJob, FireRequest, Lease

WORKER = Path(__file__).with_name("cron_worker.py")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def fires(db: Path) -> list[tuple[str, int, str | None]]:
    conn = open_database(db)
    try:
        return [
            (r["job"], r["scheduled_for"], r["run_id"])
            for r in conn.execute("SELECT job, scheduled_for, run_id FROM cron_fires ORDER BY scheduled_for")
        ]
    finally:
        conn.close()


def test_duplicate_name_stores_nothing(tmp_path: Path) -> None:
    store = CronStore(open_database(tmp_path / "s.db"))
    store.add(define_job(name="brief", every="1h", message="morning brief"))
    with pytest.raises(DuplicateJob, match="name: a job named 'brief' exists already"):
        store.add(define_job(name="brief", every="5m", message="other"))
    (job,) = store.jobs()
    assert job.message == "morning brief" and job.schedule.expr == "1h"


def test_sync_keeps_the_stored_slot_of_an_unchanged_config_job(tmp_path: Path) -> None:
    clock = Clock(10_000.0)
    store = CronStore(open_database(tmp_path / "s.db"), now=clock)
    table = define_job(name="a", every="10s", message="m")
    assert store.sync([table], source="config") == (["a"], [])
    before = store.get("a")
    clock.now += 3  # a restart: the job keeps its slot instead of being re-anchored
    assert store.sync([table], source="config") == ([], [])
    assert store.get("a") == before
    assert store.sync([], source="config") == ([], ["a"])
    assert store.jobs() == []


def _due_job(db: Path, *, now: float) -> None:
    store = CronStore(open_database(db), now=lambda: now - 20)
    store.add(define_job(name="tick", every="10s", message="do it"))


def test_a_crash_before_the_fire_commits_leaves_the_slot_due_and_it_fires_once(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    now = time.time()
    _due_job(db, now=now)
    child = subprocess.run([sys.executable, str(WORKER), "crash-before-commit", str(db)], timeout=60)
    assert child.returncode == 9  # died between inserting the fire + run and the commit
    assert fires(db) == []
    conn = open_database(db)
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
    submitted: list[str] = []
    scheduler = Scheduler(
        cron=CronStore(conn),
        lease=Lease(conn, "scheduler", holder="next"),
        submit=lambda r: submitted.append(r.id),
        workspace=tmp_path,
    )
    assert len(scheduler.tick()) == 1
    assert scheduler.tick() == []
    ((job, _slot, run_id),) = fires(db)
    assert job == "tick" and submitted == [run_id]


def test_a_crash_after_the_fire_commits_resumes_the_run_and_never_fires_the_slot_again(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    now = time.time()
    _due_job(db, now=now)
    child = subprocess.run([sys.executable, str(WORKER), "crash-after-commit", str(db)], timeout=60)
    assert child.returncode == 9  # committed, died before handing the run to a lane
    ((_, slot, run_id),) = fires(db)
    conn = open_database(db)
    runs = RunStore(conn)
    resumable, _failed = runs.recover(max_attempts=3)
    assert [r.id for r in resumable] == [run_id]  # start-up recovery answers it
    scheduler = Scheduler(
        cron=CronStore(conn),
        lease=Lease(conn, "scheduler", holder="next"),
        submit=lambda r: None,
        workspace=tmp_path,
    )
    assert scheduler.tick() == []
    assert fires(db) == [("tick", slot, run_id)]
    run = runs.get(run_id)
    assert run is not None and run.status is RunStatus.QUEUED and run.channel == "cron"


@pytest.mark.parametrize("shared_holder", [False, True], ids=["lease", "both-think-they-hold-it"])
def test_two_scheduler_processes_racing_fire_each_slot_exactly_once(
    tmp_path: Path, shared_holder: bool
) -> None:
    db = tmp_path / "state.db"
    store = CronStore(open_database(db), now=lambda: time.time() - 0.5)
    store.add(define_job(name="race", every="1s", message="m"))
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "race", str(db), "same" if shared_holder else f"w{i}", "3.5"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [w.communicate(timeout=60)[0].split() for w in workers]
    assert all(w.returncode == 0 for w in workers)
    counts = [int(out[-1]) for out in outputs]
    got = fires(db)
    slots = [slot for _job, slot, _run in got]
    assert len(slots) == len(set(slots)) == sum(counts) >= 2
    assert slots == list(range(slots[0], slots[0] + len(slots)))  # no slot skipped either
    if not shared_holder:
        assert 0 in counts  # the lease kept the second scheduler idle
    conn = open_database(db)
    assert conn.execute("SELECT COUNT(*) FROM runs WHERE channel = 'cron'").fetchone()[0] == len(slots)


def test_the_lease_is_taken_over_when_it_expires_or_its_holder_died(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "s.db")
    clock = Clock(100.0)
    first = Lease(conn, "scheduler", holder="host:1:a", ttl_s=10, now=clock, holder_dead=lambda h: False)
    second = Lease(conn, "scheduler", holder="host:2:b", ttl_s=10, now=clock, holder_dead=lambda h: False)
    assert first.acquire() and not second.acquire()
    clock.now = 109.0
    assert first.acquire()  # renewed until 119
    clock.now = 118.0
    assert not second.acquire()
    clock.now = 119.5
    assert second.acquire() and not first.acquire()
    dead = Lease(
        conn, "scheduler", holder="host:3:c", ttl_s=10, now=clock, holder_dead=lambda h: h == "host:2:b"
    )
    assert dead.acquire() and dead.current() == "host:3:c"
    dead.release()
    assert dead.current() is None and first.acquire()


def _scheduler(conn: object, clock: Clock, holder: str, submitted: list[str], tmp_path: Path) -> Scheduler:
    return Scheduler(
        cron=CronStore(conn, now=clock),  # type: ignore[arg-type]
        lease=Lease(conn, "scheduler", holder=holder, holder_dead=lambda h: False),  # type: ignore[arg-type]
        submit=lambda r: submitted.append(r.message),
        workspace=tmp_path,
        clock=clock,
    )


def test_a_batch_that_meets_another_scheduler_falls_back_job_by_job_and_fires_each_slot_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    clock = Clock(10_000.0)
    setup = CronStore(open_database(db), now=clock)
    for name in ("a", "b", "c"):
        setup.add(define_job(name=name, every="10s", message=name))
    clock.now = 10_010.2
    first, second = (CronStore(open_database(db), now=clock) for _ in range(2))
    seen = second.due(clock.now)  # both read the same three due jobs
    fired_first = first.fire_all([FireRequest(job, (10_010,), 10_020) for job in first.due(clock.now)[:2]])
    assert [f.job for f in fired_first] == ["a", "b"]  # a batch: a and b in one transaction
    fired_second = second.fire_all([FireRequest(job, (10_010,), 10_020) for job in seen])
    assert [f.job for f in fired_second] == ["c"]  # contended batch, retried one by one: only c is left
    assert sorted(job for job, _slot, _run in fires(db)) == ["a", "b", "c"]
    assert all(f.run is not None and f.run.message == f.job for f in fired_first + fired_second)


def test_a_plan_read_before_the_slot_is_dropped_when_a_job_was_edited_meanwhile(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    clock = Clock(10_000.0)
    submitted: list[str] = []
    scheduler = _scheduler(open_database(db), clock, "host:1:a", submitted, tmp_path)
    scheduler.cron.add(define_job(name="a", every="10s", message="old"))
    scheduler.cron.add(define_job(name="b", every="10s", message="b"))
    clock.now = 10_009.8
    scheduler.prepare(10_010)
    # another process (`nexus cron add --replace`) changes a's message before the slot
    CronStore(open_database(db), now=lambda: 10_000.0).add(
        define_job(name="a", every="10s", message="new"), replace=True
    )
    clock.now = 10_010.01
    scheduler.tick()
    assert sorted(submitted) == ["b", "new"]
    # unchanged: the plan read ahead is the one that fires
    clock.now = 10_019.8
    scheduler.prepare(10_020)
    prepared = scheduler._prepared
    clock.now = 10_020.01
    assert scheduler._take_prepared(clock.now) is prepared[2]  # type: ignore[index]
