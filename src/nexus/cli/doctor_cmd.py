"""``nexus doctor [--fix] [--json]`` and ``nexus cleanup`` (what the systemd unit's ExecStartPre runs).

Exit codes: doctor 0 clean, 1 findings, 2 the doctor itself failed; cleanup 0 port free or ours,
75 the port is held by a foreign process (named, never killed), 70 a stale process would not die.
"""

from __future__ import annotations

import json
import logging
import os

import typer

_MARK = {"ok": "ok   ", "info": "info ", "warn": "WARN ", "error": "ERROR"}


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
    app.command("cleanup")(cleanup)


def doctor(
    fix: bool = typer.Option(False, "--fix", help="Apply the safe remedies (never kills a foreign process)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Find what keeps the gateway from answering, and say how to fix each thing."""
    from nexus.common import NexusPaths
    from nexus.ops.doctor import DoctorEnv, run_doctor
    from nexus.ops.findings import EXIT_DOCTOR_FAILED

    logging.getLogger("nexus.auth").addHandler(logging.NullHandler())  # findings say it, once
    try:
        outcome = run_doctor(DoctorEnv(paths=NexusPaths.from_env()), fix=fix)
    except Exception as exc:  # the doctor itself failed: say so, exit 2
        typer.echo(f"nexus doctor failed: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(EXIT_DOCTOR_FAILED) from exc
    if as_json:
        typer.echo(json.dumps(outcome.to_json(), indent=2))
        raise typer.Exit(outcome.exit_code)
    for line in outcome.fixed:
        typer.echo(f"fixed: {line}")
    for finding in outcome.findings:
        data = finding.to_json()
        typer.echo(f"{_MARK[data['severity']]} {finding.check}: {finding.finding}")
        if finding.remedy and finding.counts:
            hint = " (nexus doctor --fix can do this)" if finding.fixable and not fix else ""
            typer.echo(f"      fix: {finding.remedy}{hint}")
    counted = sum(1 for f in outcome.findings if f.counts)
    typer.echo(f"{counted} finding(s) need attention" if counted else "all clear")
    raise typer.Exit(outcome.exit_code)


def cleanup() -> None:
    """Kill verified stale Nexus processes of this state directory and check the port is free.
    Never touches a foreign process; safe to run at any time (ExecStartPre runs it before every start)."""
    from nexus.common import NexusPaths
    from nexus.ops.cleanup import kill_stale
    from nexus.ops.configuration import gather_config
    from nexus.ops.doctor import unit_main_pid
    from nexus.ops.programs import run
    from nexus.supervisor.errors import EXIT_PORT_FOREIGN, EXIT_SURVIVORS

    paths = NexusPaths.from_env()
    port = gather_config(paths, environ=os.environ).config.gateway.port
    result = kill_stale(paths, port, unit_main_pid=unit_main_pid(run))
    for proc in result.killed:
        typer.echo(f"killed stale Nexus process {proc.describe()}")
    if result.left:
        typer.echo(f"these stale processes would not die: {', '.join(map(str, result.left))}", err=True)
        raise typer.Exit(EXIT_SURVIVORS)
    holder = result.foreign_holder
    if holder is not None:
        typer.echo(
            f"port {port} is held by {holder.describe()}, which is not Nexus: left alone. "
            "Stop it yourself or set [gateway] port / NEXUS_PORT.",
            err=True,
        )
        raise typer.Exit(EXIT_PORT_FOREIGN)
    if not result.killed:
        typer.echo("nothing stale to clean up")
