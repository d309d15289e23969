"""The scheduler over a real state database with an injected clock, and in a running gateway."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from nexus.common.paths import NexusPaths
from nexus.config.schema import AgentConfig, CronTable, NexusConfig
from nexus.gateway.runtime import GatewayRuntime
from nexus.gateway.scheduler import Scheduler
from nexus.schedule import ALERT_AFTER, define_job
from nexus.schedule.plan import MAX_CATCH_UP
from nexus.store import RunStatus, RunStore, open_database
from nexus.store.cron import CronStore, Lease, Outcome
from tests.gateway.conftest import ScriptedRouter, start_gateway


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(
    tmp_path: Path, clock: Clock, *, holder: str = "a"
) -> tuple[Scheduler, RunStore, list[str], list[Outcome]]:
    conn = open_database(tmp_path / "state.db")
    runs = RunStore(conn, now=clock)
    submitted: list[str] = []
    alerts: list[Outcome] = []
    scheduler = Scheduler(
        cron=CronStore(conn, now=clock),
        lease=Lease(conn, "scheduler", holder=holder, now=clock, holder_dead=lambda h: False),
        submit=lambda run: submitted.append(run.id),
        workspace=tmp_path,
        alert=alerts.append,
        clock=clock,
    )
    return scheduler, runs, submitted, alerts


def test_catch_up_once_folds_missed_slots_into_one_run_that_says_so(tmp_path: Path) -> None:
    clock = Clock(10_000.0)
    scheduler, runs, submitted, _ = make(tmp_path, clock)
    scheduler.cron.add(define_job(name="j", every="10s", message="check the feed"))
    clock.now = 10_105.0  # down for ~100 s
    (fired,) = scheduler.tick()
    assert fired.scheduled_for == 10_100 and fired.missed == 9
    run = runs.get(submitted[0])
    assert run is not None and run.session == "cron:j" and "9 earlier slot(s) missed" in run.message
    assert scheduler.tick() == []
    assert scheduler.cron.get("j").next_due == 10_110  # type: ignore[union-attr]


def test_run_now_fires_once_outside_the_schedule(tmp_path: Path) -> None:
    clock = Clock(10_000.0)
    scheduler, _runs, submitted, _ = make(tmp_path, clock)
    scheduler.cron.add(define_job(name="j", every="1h", message="m"))
    scheduler.cron.request_run("j")
    clock.now += 0.3
    (fired,) = scheduler.tick()
    assert fired.manual and fired.scheduled_for == 10_000 and len(submitted) == 1
    assert scheduler.tick() == [] and scheduler.cron.get("j").next_due == 13_600  # type: ignore[union-attr]


def test_catch_up_all_and_skip(tmp_path: Path) -> None:
    clock = Clock(10_000.0)
    scheduler, _runs, submitted, _ = make(tmp_path, clock)
    scheduler.cron.add(define_job(name="all", every="10s", message="m", catch_up="all"))
    scheduler.cron.add(define_job(name="skip", cron="0 9 * * *", tz="UTC", message="m", catch_up="skip"))
    clock.now = 10_055.0
    fired = scheduler.tick()
    assert [f.scheduled_for for f in fired if f.job == "all"] == [10_010, 10_020, 10_030, 10_040, 10_050]
    skip = scheduler.cron.get("skip")
    assert skip is not None and skip.next_due is not None
    clock.now = skip.next_due + 3 * 3600.0  # three hours late: skip drops it
    due = skip.next_due
    assert [f for f in scheduler.tick() if f.job == "skip"] == []
    assert scheduler.cron.get("skip").next_due == due + 86_400  # type: ignore[union-attr]
    assert len(submitted) == 5 + MAX_CATCH_UP  # 'all' after three hours: capped, the rest counted missed


def test_a_daily_job_over_the_spring_forward_with_an_injected_clock(tmp_path: Path) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 27, 12, 0, tzinfo=berlin).timestamp()
    clock = Clock(start)
    scheduler, _runs, _submitted, _ = make(tmp_path, clock)
    scheduler.cron.add(define_job(name="night", cron="30 2 * * *", tz="Europe/Berlin", message="m"))
    seen = []
    for _ in range(4 * 24 * 12):  # four days in five-minute steps
        clock.now += 300
        seen += [datetime.fromtimestamp(f.scheduled_for, berlin).isoformat() for f in scheduler.tick()]
    assert seen == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that night
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]


def test_a_gateway_restarted_in_the_same_second_does_not_fire_the_slot_again(tmp_path: Path) -> None:
    clock = Clock(20_000.0)
    first, _runs, _sub, _ = make(tmp_path, clock, holder="gen1")
    first.cron.add(define_job(name="j", every="1s", message="m"))
    clock.now = 20_001.2
    assert [f.scheduled_for for f in first.tick()] == [20_001]
    second, _runs2, sub2, _ = make(tmp_path, clock, holder="gen2")
    assert second.tick() == []  # the first still holds the lease
    asyncio.run(first.stop())  # orderly stop releases it: the next generation takes over at once
    assert second.tick() == [] and second.holding  # same second: slot 20001 is taken
    clock.now = 20_002.0
    assert [f.scheduled_for for f in second.tick()] == [20_002] and len(sub2) == 1


def test_a_failing_job_backs_off_and_alerts_naming_the_job_and_the_cause(tmp_path: Path) -> None:
    clock = Clock(30_000.0)
    scheduler, runs, submitted, alerts = make(tmp_path, clock)
    scheduler.cron.add(define_job(name="broken", every="10s", message="m"))
    fire_times = []
    for _ in range(200):
        clock.now += 5
        for fired in scheduler.tick():
            fire_times.append(fired.scheduled_for)
            assert fired.run is not None
            runs.claim(fired.run.id)
            outcome = scheduler.settle(runs.fail(fired.run.id, "every model failed: 401 invalid x-api-key"))
            assert outcome is not None
        if len(fire_times) == ALERT_AFTER + 1:
            break
    gaps = [b - a for a, b in itertools.pairwise(fire_times)]
    assert gaps[0] >= 30 and gaps[1] >= 60 and gaps[2] >= 120  # 30 s, 60 s, 120 s pauses
    assert len(alerts) == 2  # at the third failure and the fourth
    job = alerts[0].job
    assert job.name == "broken" and job.failures == ALERT_AFTER
    assert "401 invalid x-api-key" in (alerts[0].error or "")
    assert len(submitted) == len(fire_times)


async def test_jobs_fire_in_a_running_gateway_and_answers_go_to_the_outbox(tmp_path: Path) -> None:
    home = tmp_path / "home"
    router = ScriptedRouter()
    config = NexusConfig(cron=[CronTable(name="tick", every="1s", message="ping", deliver="telegram:42")])
    _gw, stop, task = await start_gateway(home, router, config)
    try:
        # a job added from another process (as `nexus cron add` does) is picked up within a second
        other = CronStore(open_database(NexusPaths(home=home).state_db))
        other.add(define_job(name="other", every="1s", message="pong"))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            texts = [t.messages[-1].content for t in router.calls]
            if "ping" in texts and "pong" in texts:
                break
            await asyncio.sleep(0.05)
        assert {"ping", "pong"} <= {t.messages[-1].content for t in router.calls}
        conn = other._conn
        for _ in range(200):
            row = conn.execute(
                "SELECT chat_id, text FROM channel_outbox WHERE dedupe_key LIKE 'cron:%' LIMIT 1"
            ).fetchone()
            if row is not None:
                break
            await asyncio.sleep(0.05)
        assert row is not None and (row["chat_id"], row["text"]) == ("42", "echo: ping")
        assert (
            conn.execute("SELECT COUNT(*) FROM channel_outbox WHERE text = 'echo: pong'").fetchone()[0] == 0
        )
        dupes = conn.execute(
            "SELECT COUNT(*) FROM (SELECT job, scheduled_for FROM cron_fires GROUP BY 1, 2 HAVING COUNT(*) > 1)"
        ).fetchone()[0]
        assert dupes == 0
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def test_heartbeat_skips_without_a_model_call_and_delivers_only_news(tmp_path: Path) -> None:
    home = tmp_path / "home"
    router = ScriptedRouter()
    config = NexusConfig(agent=AgentConfig(heartbeat_every="1s", heartbeat_deliver="telegram:7"))
    gw, stop, task = await start_gateway(home, router, config)
    conn = open_database(NexusPaths(home=home).state_db)

    async def wait_for(query: str, count: int) -> None:
        for _ in range(300):
            if conn.execute(query).fetchone()[0] >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {query}")

    try:
        await wait_for("SELECT COUNT(*) FROM cron_fires WHERE job = 'heartbeat' AND status = 'skipped'", 2)
        assert router.calls == []  # no HEARTBEAT.md: no model call at all
        router.script.extend(["HEARTBEAT_OK", "The backup failed last night."])
        (gw.paths.workspace / "HEARTBEAT.md").write_text("- check last night's backup\n")
        await wait_for("SELECT COUNT(*) FROM cron_fires WHERE job = 'heartbeat' AND status = 'done'", 2)
        (gw.paths.workspace / "HEARTBEAT.md").write_text("")
        assert "HEARTBEAT_OK" in router.calls[0].messages[-1].content  # the prompt names the sentinel
        await wait_for("SELECT COUNT(*) FROM channel_outbox WHERE dedupe_key LIKE 'cron:%'", 1)
        rows = conn.execute(
            "SELECT chat_id, text FROM channel_outbox WHERE dedupe_key LIKE 'cron:%'"
        ).fetchall()
        assert [(r["chat_id"], r["text"]) for r in rows] == [("7", "The backup failed last night.")]
        statuses = {
            RunStatus(r["status"])
            for r in conn.execute("SELECT status FROM runs WHERE session = 'heartbeat'")
        }
        assert statuses <= {RunStatus.DONE, RunStatus.QUEUED, RunStatus.RUNNING}
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        conn.close()


async def test_two_gateways_on_one_home_fire_each_slot_once_and_hand_over_on_stop(tmp_path: Path) -> None:
    paths = NexusPaths(home=tmp_path / "home")
    config = NexusConfig(cron=[CronTable(name="beat", every="1s", message="m")])
    routers = [ScriptedRouter(), ScriptedRouter()]
    runtimes = [GatewayRuntime.open(config=config, paths=paths, router=r) for r in routers]
    for runtime in runtimes:
        await runtime.start()
        runtime.scheduler.start()  # as assemble.serve does after the channels
    conn = open_database(paths.state_db)

    def fired() -> list[int]:
        return [
            r[0] for r in conn.execute("SELECT scheduled_for FROM cron_fires WHERE job = 'beat' ORDER BY 1")
        ]

    try:
        for _ in range(400):
            if len(fired()) >= 3:
                break
            await asyncio.sleep(0.02)
        holders = [runtime.scheduler.holding for runtime in runtimes]
        assert holders.count(True) == 1
        first = holders.index(True)
        await runtimes[first].close()  # orderly stop: the lease is released
        before = len(fired())
        for _ in range(400):
            if len(fired()) >= before + 2:
                break
            await asyncio.sleep(0.02)
        assert runtimes[1 - first].scheduler.holding
        slots = fired()
        assert len(slots) == len(set(slots)) >= before + 2
        assert slots == list(range(slots[0], slots[0] + len(slots)))  # none twice, none skipped
    finally:
        for runtime in runtimes:
            with contextlib.suppress(Exception):
                await runtime.close()
        conn.close()
