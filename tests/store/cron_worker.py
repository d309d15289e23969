"""A tiny scheduler process for the race and crash tests: ``python cron_worker.py MODE DB ...``.

* ``race DB HOLDER SECONDS``: tick a real Scheduler every 5 ms for SECONDS; print fires committed.
* ``crash-before-commit DB``: fire the due job but die (os._exit) after the fire row and its run
  were inserted, before the transaction commits.
* ``crash-after-commit DB``: fire the due job, commit, and die before the run is submitted.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nexus.store.cron as cron_module
from nexus.gateway.scheduler import Scheduler
from nexus.store import open_database
from nexus.store.cron import CronStore, Lease


def main() -> None:
    mode, db = sys.argv[1], Path(sys.argv[2])
    conn = open_database(db)
    store = CronStore(conn)
    if mode == "race":
        holder, seconds = sys.argv[3], float(sys.argv[4])
        scheduler = Scheduler(
            cron=store,
            lease=Lease(conn, "scheduler", holder=holder, ttl_s=2.0),
            submit=lambda run: None,
            workspace=db.parent,
        )
        print("ready", flush=True)
        deadline = time.time() + seconds
        fired = 0
        while time.time() < deadline:
            fired += len(scheduler.tick())
            time.sleep(0.005)
        print(fired, flush=True)
        return
    if mode == "crash-before-commit":
        original = cron_module.insert_new_runs

        def insert_then_die(*args: object, **kwargs: object) -> object:
            original(*args, **kwargs)  # type: ignore[arg-type]
            os._exit(9)

        cron_module.insert_new_runs = insert_then_die  # type: ignore[assignment]
    scheduler = Scheduler(
        cron=store,
        lease=Lease(conn, "scheduler"),  # holder host:pid: seen dead after the crash
        submit=lambda run: os._exit(9),
        workspace=db.parent,
    )
    scheduler.tick()
    os._exit(3)  # not reached: both modes die inside the tick


if __name__ == "__main__":
    main()
