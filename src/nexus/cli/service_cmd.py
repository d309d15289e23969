"""``nexus service install|uninstall|status [--system] [--dry-run]``: run Nexus as a service that
cannot repeat the incident (see nexus.ops.render for why each setting is there)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from nexus.common import NexusPaths
    from nexus.ops.service import ServiceHost

service_app = typer.Typer(
    help="Install Nexus as a service: systemd (user unit by default), launchd, or WSL2 without systemd.",
    no_args_is_help=True,
)

_SYSTEM = typer.Option(False, "--system", help="A system unit (/etc/systemd/system) instead of a user unit.")
_DRY = typer.Option(False, "--dry-run", help="Show what would be written and run; change nothing.")


def register(app: typer.Typer) -> None:
    app.add_typer(service_app, name="service")


def _context() -> tuple[NexusPaths, ServiceHost]:
    from nexus.common import NexusPaths
    from nexus.ops.service import ServiceHost

    return NexusPaths.from_env(), ServiceHost()


@service_app.command("install")
def install(system: bool = _SYSTEM, dry_run: bool = _DRY) -> None:
    """Write the service definition (verified by systemd-analyze first) and start it."""
    from nexus.ops import service

    paths, host = _context()
    try:
        if dry_run:
            typer.echo(service.plan_install(paths, host, system=system).describe())
            return
        plan, done = service.install(paths, host, system=system)
    except service.ServiceError as exc:
        typer.echo(f"nexus service: {exc}", err=True)
        raise typer.Exit(1) from exc
    except PermissionError as exc:
        typer.echo(f"nexus service: cannot write {exc.filename}: run with sudo for --system", err=True)
        raise typer.Exit(1) from exc
    for line in [*done, *plan.advice]:
        typer.echo(line)
    if any(line.startswith("failed:") for line in done):
        raise typer.Exit(1)


@service_app.command("uninstall")
def uninstall(system: bool = _SYSTEM, dry_run: bool = _DRY) -> None:
    """Stop the service and remove what `install` wrote (never a file Nexus did not write)."""
    from nexus.ops import service

    paths, host = _context()
    for line in service.uninstall(paths, host, system=system, dry_run=dry_run):
        typer.echo(line)


@service_app.command("status")
def status(system: bool = _SYSTEM) -> None:
    """Is the service installed, is it ours, is it running, and are its settings safe?"""
    from nexus.ops import service

    paths, host = _context()
    st = service.service_status(paths, host, system=system)
    typer.echo(f"method: {st.method.value}")
    if not st.installed:
        typer.echo(f"not installed ({st.path}); run `nexus service install`")
        raise typer.Exit(1)
    typer.echo(f"installed: {st.path}" + ("" if st.ours else " (not written by Nexus)"))
    if st.active is not None:
        typer.echo(f"active: {st.active}")
    for finding in st.findings:
        typer.echo(f"{finding.severity.name.lower()}: {finding.finding}")
    if any(f.counts for f in st.findings):
        raise typer.Exit(1)
