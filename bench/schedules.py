"""Schedules and memory benchmark.

    .venv/bin/python bench/schedules.py [--jobs 1000] [--seconds 20] [--runs 100000] [--queries 300]

1. Scheduling jitter: ``--jobs`` cron jobs (spread: ``every`` 2-10 s, anchors spread over the period,
   about 230 fires a second; burst: all ``every 5s`` on the same second) in a
   real state database, driven by the real scheduler inside a real ``GatewayRuntime`` whose runs are
   answered by an instant in-process router (so the event loop also executes every fire's run).
   Jitter = the time a fire (with its run) is committed minus its slot; the time until the run is in
   its lane on the event loop is shown too.
   Target: p99 <= 100 ms.
2. Memory search: ``--runs`` answered runs (message + answer, Zipf-distributed words, 5% Chinese or
   Japanese) indexed by the FTS5 trigram triggers, then ``--queries`` two-word searches with
   ``limit=10``; reported p50/p99 for queries of rare, common and CJK terms. Target: p50 <= 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from nexus.common.paths import NexusPaths  # noqa: E402
from nexus.config.schema import NexusConfig  # noqa: E402
from nexus.gateway.runtime import GatewayRuntime  # noqa: E402
from nexus.models.turn import AttemptStarted, CallResult  # noqa: E402
from nexus.schedule import define_job  # noqa: E402
from nexus.store import Run, RunStore, open_database  # noqa: E402
from nexus.store.cron import Fired  # noqa: E402
from nexus.store.memory import MemoryStore  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


class InstantRouter:
    async def complete(self, request, sink):  # type: ignore[no-untyped-def]
        sink(AttemptStarted(model="bench/instant", profile=None))
        return CallResult(text="ok", model="bench/instant", profile=None)

    def candidates(self) -> list[object]:
        return []

    async def warm(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


async def jitter(jobs: int, seconds: float, home: Path, *, burst: bool) -> None:
    paths = NexusPaths(home=home)
    runtime = GatewayRuntime.open(config=NexusConfig(), paths=paths, router=InstantRouter())
    rng = random.Random(7)
    now = time.time()
    for i in range(jobs):
        period = 5 if burst else rng.randint(2, 10)
        runtime.cron.add(define_job(name=f"job{i:04d}", every=f"{period}s", message="tick"))
    # spread the anchors so slots are not all on the same second
    conn = runtime.store.conn
    conn.execute("BEGIN")
    for i in range(jobs):
        shift = 0 if burst else rng.randint(0, 9)
        conn.execute(
            "UPDATE cron_jobs SET anchor = anchor - ?, next_due = next_due - ? WHERE name = ?",
            (shift, shift, f"job{i:04d}"),
        )
    if burst:  # every job on the very same slots
        conn.execute("UPDATE cron_jobs SET anchor = ?, next_due = ?", (int(now), int(now) + 15))
    else:
        conn.execute("UPDATE cron_jobs SET next_due = next_due + 10")  # first fires after warm-up
    conn.execute("COMMIT")
    lags: list[float] = []
    handed: list[float] = []
    fire_due = runtime.scheduler.fire_due
    submit = runtime.scheduler._submit

    def measured_fire() -> list[Fired]:
        fired = fire_due()
        committed = time.time()
        lags.extend(committed - f.scheduled_for for f in fired)
        return fired

    def measured_submit(run: Run) -> None:
        handed.append(time.time() - int((run.idempotency_key or "::0").rsplit(":", 1)[1]))
        submit(run)

    runtime.scheduler.fire_due = measured_fire  # type: ignore[method-assign]
    runtime.scheduler._submit = measured_submit
    await runtime.start()
    runtime.scheduler.start()  # as assemble.serve does, once the channels are up
    await asyncio.sleep(seconds + 10 - (time.time() - now))
    await runtime.close()
    fires = len(lags)
    if not fires:
        print(f"jitter: no fire within {seconds:.0f} s; run longer (--seconds 20)")
        return
    print(
        f"jitter ({'burst: all on the same second, every 5 s' if burst else 'spread: every 2-10 s'}): {jobs} jobs, {fires} fires in {seconds:.0f} s ({fires / seconds:.0f}/s): "
        f"p50 {percentile(lags, 50) * 1000:.1f} ms, p99 {percentile(lags, 99) * 1000:.1f} ms, "
        f"max {max(lags) * 1000:.1f} ms (target p99 <= 100 ms)"
    )
    print(
        f"  slot to its run in a lane (event loop busy answering the runs): p50 {percentile(handed, 50) * 1000:.1f} ms,"
        f" p99 {percentile(handed, 99) * 1000:.1f} ms"
    )


WORDS = [
    "".join(
        random.Random(i).choice("abcdefghijklmnopqrstuvwxyz") for _ in range(random.Random(-i).randint(3, 9))
    )
    for i in range(5000)
]
CJK = ["東京", "桜", "会議", "明日", "天气", "护照", "朋友", "电影", "予約", "病院", "水曜日", "晚饭"]


def sentence(rng: random.Random, words: int) -> str:
    picks = [WORDS[min(int(rng.paretovariate(1.1)) - 1, len(WORDS) - 1)] for _ in range(words)]
    if rng.random() < 0.05:
        return "".join(rng.choice(CJK) for _ in range(words // 2))
    return " ".join(picks)


def memory(runs: int, queries: int, db: Path) -> None:
    conn = open_database(db)
    rng = random.Random(11)
    started = time.perf_counter()
    conn.execute("BEGIN")
    for i in range(runs):
        conn.execute(
            "INSERT INTO runs (id, seq, session, channel, text, status, created_at) VALUES (?, ?, ?, 'api', ?, 'done', ?)",
            (f"r{i}", i + 1, f"s{i % 500}", sentence(rng, 14), 1_700_000_000 + i),
        )
        conn.execute(
            "UPDATE runs SET answer = ?, finished_at = ? WHERE id = ?",
            (sentence(rng, 30), 1_700_000_001 + i, f"r{i}"),
        )
    conn.execute("COMMIT")
    print(
        f"memory: indexed {runs} runs ({2 * runs} documents) in {time.perf_counter() - started:.1f} s, "
        f"database {db.stat().st_size / 1e6:.0f} MB"
    )
    store = MemoryStore(conn)
    sets = {
        "rare words": lambda: f"{rng.choice(WORDS[500:])} {rng.choice(WORDS[500:])}",
        "one rare word": lambda: rng.choice(WORDS[200:]),
        "common words": lambda: f"{rng.choice(WORDS[:20])} {rng.choice(WORDS[:20])}",
        "CJK": lambda: rng.choice(["東京会議", "护照朋友", "明日病院", "水曜日", "电影晚饭", "予約"]),
    }
    all_times: list[float] = []
    for label, make in sets.items():
        times = []
        for _ in range(queries // len(sets)):
            query = make()
            t0 = time.perf_counter()
            store.search(query, limit=10)
            times.append(time.perf_counter() - t0)
        all_times += times
        print(
            f"  {label:14s} p50 {percentile(times, 50) * 1000:6.1f} ms  p99 {percentile(times, 99) * 1000:6.1f} ms"
        )
    print(
        f"memory search over {runs} runs: p50 {percentile(all_times, 50) * 1000:.1f} ms, "
        f"p99 {percentile(all_times, 99) * 1000:.1f} ms (target p50 <= 20 ms)"
    )
    RunStore(conn).close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(jitter(args.jobs, args.seconds, Path(tmp) / "spread", burst=False))
        asyncio.run(jitter(args.jobs, args.seconds, Path(tmp) / "burst", burst=True))
        memory(args.runs, args.queries, Path(tmp) / "memory.db")


if __name__ == "__main__":
    main()
