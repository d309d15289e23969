"""``nexus cron add|list|remove|run``: scheduled jobs, written straight to the state database.

Why the store and not an HTTP call: these commands must work whether or not the gateway runs, and
SQLite (WAL) already serialises writers across processes. A running gateway's scheduler looks at
the jobs table at least every second, so an added job, a removal or ``run`` takes effect within a
second; with no gateway, they take effect when it starts. Every input is checked before anything is
stored; an error names the option and shows an example (exit 2).
"""

from __future__ import annotations

import json
import time
from typing import Any

import typer

cron_app = typer.Typer(help="Scheduled jobs: add, list, remove, run now.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(cron_app, name="cron")


def _open() -> Any:
    from nexus.common import NexusPaths
    from nexus.store import open_database

    paths = NexusPaths.from_env()
    paths.ensure()
    return paths, open_database(paths.state_db)


def _fail(command: str, message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"nexus cron {command}: {message}", err=True)
    return typer.Exit(code)


def _config_names(paths: Any) -> set[str]:
    """Names of ``[[cron]]`` tables (a CLI job may not take one); an unreadable config hides none."""
    from nexus.config import ConfigError, load_config

    try:
        return {table.name for table in load_config(paths).cron}
    except ConfigError:
        return set()


@cron_app.command("add")
def add(
    name: str = typer.Argument(..., help="Job name: letters, digits, '.', '_', '-'."),
    every: str | None = typer.Option(None, "--every", help="A period: 30s, 15m, 1h30m, 2d."),
    cron: str | None = typer.Option(None, "--cron", help="A cron expression: '0 9 * * MON-FRI'."),
    at: str | None = typer.Option(None, "--at", help="Once, at an ISO time: 2026-12-24T18:00."),
    message: str = typer.Option(..., "--message", "-m", help="What the assistant is asked at each fire."),
    session: str | None = typer.Option(None, "--session", help="Session of the runs (default cron:NAME)."),
    deliver: str | None = typer.Option(
        None, "--deliver", help="CHANNEL:CHAT for the answers (default: the log)."
    ),
    catch_up: str | None = typer.Option(
        None, "--catch-up", help="Missed slots after downtime: skip, once (default), all."
    ),
    tz: str | None = typer.Option(
        None, "--tz", help="IANA time zone for --cron/--at (default: this machine's)."
    ),
) -> None:
    """Add a job; its first fire is shown."""
    from nexus.schedule import ScheduleError, define_job, describe_slot, next_slot
    from nexus.store.cron import CronStore, DuplicateJob

    try:
        definition = define_job(
            name=name,
            message=message,
            every=every,
            cron=cron,
            at=at,
            tz=tz,
            session=session,
            deliver=deliver,
            catch_up=catch_up,
        )
    except ScheduleError as exc:
        raise _fail("add", f"{exc}; nothing stored") from exc
    now = int(time.time())
    if next_slot(definition.schedule, after=now, anchor=now) is None:
        raise _fail("add", f"--at: {at!r} is in the past, so it would never fire; nothing stored")
    paths, conn = _open()
    try:
        if name in _config_names(paths):
            raise _fail(
                "add", f"name: {name!r} is a [[cron]] table in {paths.config_file}; pick another name"
            )
        try:
            job = CronStore(conn).add(definition)
        except DuplicateJob as exc:
            raise _fail("add", f"{exc}; nothing stored") from exc
    finally:
        conn.close()
    typer.echo(
        f"added {job.name}: next fire {describe_slot(job.next_due, job.schedule.tz)} ({job.schedule.tz})"
    )


def _job_json(job: Any) -> dict[str, Any]:
    from nexus.schedule import describe_slot

    return {
        "name": job.name,
        "schedule": {job.schedule.kind.value: job.schedule.expr},
        "tz": job.schedule.tz,
        "message": job.message,
        "session": job.session,
        "deliver": job.deliver_text,
        "catch_up": job.catch_up.value,
        "source": job.source,
        "next_fire": job.next_due,
        "next_fire_local": describe_slot(job.next_due, job.schedule.tz),
        "run_requested": job.run_requested_at is not None,
        "failures": job.failures,
        "last_error": job.last_error,
    }


@cron_app.command("list")
def list_jobs(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Every job with its next fire."""
    from nexus.store.cron import CronStore

    _paths, conn = _open()
    try:
        jobs = [_job_json(job) for job in CronStore(conn).jobs()]
    finally:
        conn.close()
    if as_json:
        typer.echo(json.dumps({"jobs": jobs}, indent=2, ensure_ascii=False))
        return
    if not jobs:
        typer.echo("no jobs: `nexus cron add NAME --every 1h --message '...'` or [[cron]] in nexus.toml")
        return
    for job in jobs:
        ((kind, expr),) = job["schedule"].items()
        line = f"{job['name']}: {kind} {expr!r} -> next {job['next_fire_local']} [{job['source']}]"
        if job["failures"]:
            line += f"  FAILING x{job['failures']}: {job['last_error']}"
        typer.echo(line)


@cron_app.command("remove")
def remove(name: str = typer.Argument(..., help="Job name.")) -> None:
    """Remove a job added by `nexus cron add` or by the assistant."""
    from nexus.store.cron import CronStore

    _paths, conn = _open()
    try:
        store = CronStore(conn)
        job = store.get(name)
        if job is None:
            raise _fail("remove", f"no job named {name!r}; `nexus cron list` shows them", 1)
        if job.source == "config":
            raise _fail(
                "remove", f"{name!r} comes from a [[cron]] table in nexus.toml: delete the table there"
            )
        if job.source == "heartbeat":
            raise _fail(
                "remove", "the heartbeat is set by [agent] heartbeat_every in nexus.toml: unset it there"
            )
        store.remove(name)
    finally:
        conn.close()
    typer.echo(f"removed {name}")


@cron_app.command("run")
def run_now(name: str = typer.Argument(..., help="Job name.")) -> None:
    """Fire a job now (once), outside its schedule."""
    from nexus.store.cron import SCHEDULER_LEASE, CronStore, JobNotFound, Lease

    _paths, conn = _open()
    try:
        try:
            CronStore(conn).request_run(name)
        except JobNotFound as exc:
            raise _fail("run", str(exc), 1) from exc
        running = Lease(conn, SCHEDULER_LEASE).current() is not None
    finally:
        conn.close()
    if running:
        typer.echo(f"{name}: the gateway fires it within a second (see `nexus cron list`)")
    else:
        typer.echo(f"{name}: queued; no gateway is running, it fires when one starts (`nexus up`)")
