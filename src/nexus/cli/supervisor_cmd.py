"""``nexus up``, ``down``, ``restart``, ``status``, ``logs`` and ``supervise``: the supervisor's commands."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from nexus.common import NexusPaths
    from nexus.config import NexusConfig

LOG_CHOICES = ("all", "gateway", "child", "supervisor")
NAME_HELP = "Which supervisor: `gateway` (the one `nexus up` runs, the default) or a `nexus supervise` name."


def _name_option() -> str:
    return typer.Option("gateway", "--name", help=NAME_HELP)


def _checked(name: str) -> str:
    from nexus.supervisor.identity import check_name

    try:
        return check_name(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--name") from exc


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("down")(down)
    app.command("restart")(restart)
    app.command("status")(status)
    app.command("logs")(logs)
    app.command(
        "supervise",
        context_settings={"allow_interspersed_args": False},
    )(supervise)


def up(
    background: bool = typer.Option(
        False, "--background", "-b", help="Detach; output goes to logs/. Safe to call from .bashrc."
    ),
    detached: bool = typer.Option(
        False, "--detached", hidden=True, help="Set by --background: log to files only."
    ),
) -> None:
    """Run the supervisor, which runs the gateway and keeps it answering. Idempotent: when one is
    already running for this state directory, print its status and exit 0."""
    from nexus import supervisor
    from nexus.common import NexusPaths

    paths = NexusPaths.from_env()
    if supervisor.lock_owner_of(paths) is not None:
        _print_status(paths)
        raise typer.Exit(0)
    if background:
        code = supervisor.start_background(paths, [sys.executable, "-m", "nexus", "up", "--detached"])
        if code != 0:
            typer.echo(
                f"the supervisor did not start (exit {code}); see {paths.logs / 'supervisor.log'}", err=True
            )
            _echo_tail(paths.logs / "supervisor.log", 5)
            raise typer.Exit(code)
        _print_status(paths)
        raise typer.Exit(0)
    config, problem = _settings(paths)
    options = supervisor.gateway_options(paths, config, echo_output=not detached)
    code = supervisor.run_supervisor(
        paths, options, config.supervisor, echo=not detached, config_problem=problem, alerts=config.alerts
    )
    if code is None:
        _print_status(paths)
        code = 0
    raise typer.Exit(code)


def down(
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for everything to stop."),
    name: str = _name_option(),
) -> None:
    """Stop the supervisor and the gateway; leave no process behind (survivors of a killed supervisor too)."""
    from nexus import supervisor
    from nexus.common import NexusPaths
    from nexus.errors import LockTimeout

    paths = NexusPaths.from_env()
    try:
        left = supervisor.down(paths, timeout=timeout, name=_checked(name))
    except LockTimeout as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    if left:
        typer.echo(f"stopped, but these processes would not die: {', '.join(map(str, left))}", err=True)
        raise typer.Exit(1)
    typer.echo("stopped: no Nexus process left")


def restart(
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the new gateway to be ready."),
    name: str = _name_option(),
) -> None:
    """Restart the gateway now (also ends a crash-loop wait or a config block); start all if stopped."""
    from nexus import supervisor
    from nexus.common import NexusPaths
    from nexus.supervisor.identity import Instance

    paths = NexusPaths.from_env()
    key = Instance(paths, _checked(name)).child_key
    before = supervisor.status(paths, name=name)[key].get("generation") or 0
    if supervisor.signal_supervisor(paths, signal.SIGHUP, name=name) is None:
        if name != "gateway":
            typer.echo(
                f"no supervisor named {name!r} runs; start one with `nexus supervise --name {name} -- CMD`"
            )
            raise typer.Exit(3)
        typer.echo("no supervisor was running: starting one")
        up(background=True, detached=False)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = supervisor.status(paths, name=name)
        gw, state = doc[key], doc["supervisor"].get("state")
        if (gw.get("generation") or 0) > before and (
            gw.get("state") == "ready" or state in ("blocked", "crash-loop", "backoff")
        ):
            break  # ready, or the new generation failed too: the status below says why
        time.sleep(0.05)
    _print_status(paths, name)


def status(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    name: str | None = typer.Option(
        None, "--name", help="Only this supervisor (default: the gateway's, then every running named one)."
    ),
) -> None:
    """Supervisor and gateway state, uptime, restarts in the last hour, the last exit and its cause.

    Exit code (after LSB/systemctl): 0 running and ready; 1 running, not ready (starting, restarting);
    2 stuck (crash loop, or blocked on the config); 3 not running; 4 the status could not be read."""
    from nexus import supervisor
    from nexus.common import NexusPaths

    paths = NexusPaths.from_env()
    try:
        doc = supervisor.status_all(paths) if name is None else supervisor.status(paths, name=_checked(name))
    except OSError as exc:
        typer.echo(f"nexus status: cannot read the state in {paths.run}: {exc}", err=True)
        raise typer.Exit(supervisor.EXIT_UNKNOWN) from exc
    typer.echo(json.dumps(doc, indent=2, sort_keys=True) if as_json else supervisor.render_status(doc))
    raise typer.Exit(supervisor.status_exit_code(doc))


def logs(
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines (Ctrl-C stops)."),
    lines: int = typer.Option(50, "--lines", "-n", help="How many earlier lines to show per log."),
    which: str = typer.Option(
        "all", "--which", help="all, gateway (or child: the supervised command's output) or supervisor."
    ),
    name: str = _name_option(),
) -> None:
    """Show the rotated logs under $NEXUS_HOME/logs (the gateway's output and the supervisor's events)."""
    from nexus.common import NexusPaths
    from nexus.supervisor.identity import Instance
    from nexus.supervisor.logs import Follower, tail_lines

    if which not in LOG_CHOICES:
        raise typer.BadParameter(f"--which must be one of {', '.join(LOG_CHOICES)}, not {which!r}")
    paths = NexusPaths.from_env()
    inst = Instance(paths, _checked(name))
    files = {
        "gateway": [inst.output_log],
        "child": [inst.output_log],
        "supervisor": [inst.supervisor_log],
    }.get(which, [inst.supervisor_log, inst.output_log])
    if not any(f.exists() for f in files):
        typer.echo(f"no logs yet in {paths.logs}; start with `nexus up`", err=True)
    followers = [Follower(f) for f in files] if follow else []
    for follower in followers:
        follower.poll()  # opened at the end before the tail is read: no line falls in between
    for file in files:
        for line in tail_lines(file, lines):
            typer.echo(f"{file.stem}: {line}" if len(files) > 1 else line)
    if not follow:
        return
    try:
        while True:
            for file, follower in zip(files, followers, strict=True):
                for line in follower.poll():
                    typer.echo(f"{file.stem}: {line}" if len(files) > 1 else line)
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        for follower in followers:
            follower.close()


def supervise(
    command: list[str] = typer.Argument(..., metavar="-- CMD [ARGS]...", help="The command to keep running."),
    port: int | None = typer.Option(None, "--port", help="Own this port and pass it as fd 3 (LISTEN_FDS)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind with --port."),
    health_url: str | None = typer.Option(
        None, "--health-url", help="Liveness probe, e.g. http://127.0.0.1:8080/"
    ),
    notify: bool = typer.Option(
        False,
        "--notify",
        help="Readiness by READY=1 on NOTIFY_SOCKET (else the first good probe, or at once).",
    ),
    watch: list[Path] = typer.Option(
        [], "--watch", help="After an exit 78, start again when this file changes (repeatable)."
    ),
    name: str | None = typer.Option(
        None,
        "--name",
        help="This supervisor's name: its own lock, status and logs (default: from the command, "
        "`python bot.py` -> bot). `gateway` takes the place of `nexus up`'s.",
    ),
) -> None:
    """Give any command the same guarantees as the gateway: containment, socket hand-over, health, policy.
    Runs beside `nexus up` in the same home: each supervisor is known by its name (`--name`)."""
    from nexus import supervisor
    from nexus.common import NexusPaths
    from nexus.supervisor.identity import name_from_command
    from nexus.supervisor.loop import READY_NOTIFY, READY_PROBE, READY_SPAWN

    paths = NexusPaths.from_env()
    name = _checked(name if name is not None else name_from_command(command))
    try:
        health = supervisor.HealthUrl.parse(health_url) if health_url else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--health-url") from exc
    ready = READY_NOTIFY if notify else READY_PROBE if health else READY_SPAWN
    options = supervisor.Options(
        argv=command,
        host=host,
        port=port,
        health=health,
        ready=ready,
        watch_files=tuple(watch),
        echo_output=True,
    )
    config, problem = _settings(paths)
    code = supervisor.run_supervisor(
        paths, options, config.supervisor, echo=True, config_problem=problem, alerts=config.alerts, name=name
    )
    if code is None:
        typer.echo(
            f"a supervisor named {name!r} already runs for this NEXUS_HOME; give this one another --name:",
            err=True,
        )
        _print_status(paths, name)
        code = 1
    raise typer.Exit(code)


def _settings(paths: NexusPaths) -> tuple[NexusConfig, str | None]:
    from nexus import supervisor
    from nexus.config import ConfigError

    try:
        return supervisor.load_settings(paths)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(exc.exit_code) from exc


def _print_status(paths: NexusPaths, name: str = "gateway") -> None:
    from nexus import supervisor

    typer.echo(supervisor.render_status(supervisor.status(paths, name=name)))


def _echo_tail(path: Path, count: int) -> None:
    from nexus.supervisor.logs import tail_lines

    for line in tail_lines(path, count):
        typer.echo(f"  {line}", err=True)
