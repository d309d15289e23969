"""``nexus drill [SCENARIO...] [--json] [--live]``: rehearse the incident on a disposable copy
(docs/drills.md). Exit 0 when every scenario that could run met its budgets (or every live probe
passed), 1 otherwise, 2 when the sandbox itself could not be built, 78 a bad config."""

from __future__ import annotations

import json

import typer

from nexus.errors import EX_CONFIG


def register(app: typer.Typer) -> None:
    app.command("drill")(drill)


def drill(
    scenarios: list[str] = typer.Argument(None, help="Scenarios to run (default: all, in order)."),
    as_json: bool = typer.Option(False, "--json", help='Print {"scenarios": [...]}.'),
    live: bool = typer.Option(
        False, "--live", help="Only harmless probes of the real install (nothing sent, refreshed or killed)."
    ),
    list_only: bool = typer.Option(False, "--list", help="Name the scenarios and exit."),
) -> None:
    """Break a sandbox copy of this Nexus one way at a time and time the recovery."""
    from nexus.common import NexusPaths
    from nexus.config import ConfigError, load_config

    paths = NexusPaths.from_env()
    if list_only:
        from nexus.drill import SCENARIOS

        for s in SCENARIOS:
            typer.echo(f"{s.name:18} {s.about}")
        return
    try:
        config = load_config(paths)  # a sandbox copy of a broken config would only drill the breakage
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EX_CONFIG) from exc
    if live:
        from nexus.drill.live import live_probes

        probes = live_probes(paths, config)
        if as_json:
            typer.echo(json.dumps({"probes": [p.to_json() for p in probes]}, indent=2))
        else:
            for p in probes:
                typer.echo(f"{'ok  ' if p.ok else 'FAIL'} {p.name}: {p.detail}")
        raise typer.Exit(0 if all(p.ok for p in probes) else 1)

    from nexus.drill import SandboxError, exit_code, run_drill, table, to_json

    def progress(result: object) -> None:
        if not as_json:
            name = getattr(result, "name", "?")
            ok = getattr(result, "ok", None)
            typer.echo(f"  {name}: {'n/a' if ok is None else 'ok' if ok else 'MISS'}", err=True)

    try:
        results = run_drill(paths, scenarios or (), on_result=progress)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="SCENARIO") from exc
    except SandboxError as exc:
        typer.echo(f"nexus drill: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(to_json(results), indent=2) if as_json else table(results))
    raise typer.Exit(exit_code(results))
