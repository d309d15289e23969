"""Entry point of the ``nexus`` command; each command group lives in its own module."""

from __future__ import annotations

import typer

from nexus import __version__

app = typer.Typer(
    name="nexus",
    help="Nexus: a self-healing personal AI assistant gateway.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nexus {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Nexus keeps your assistant answering."""


def _register() -> None:
    """Each command group registers itself; its heavy imports wait until one of its commands runs."""
    from nexus.cli import (
        approvals_cmd,
        ask_cmd,
        auth_cmd,
        backup_cmd,
        channels_cmd,
        chat_cmd,
        cron_cmd,
        doctor_cmd,
        drill_cmd,
        gateway_cmd,
        import_cmd,
        models_cmd,
        service_cmd,
        supervisor_cmd,
    )

    for group in (
        supervisor_cmd,
        gateway_cmd,
        chat_cmd,
        ask_cmd,
        auth_cmd,
        models_cmd,
        channels_cmd,
        cron_cmd,
        doctor_cmd,
        service_cmd,
        import_cmd,
        approvals_cmd,
        backup_cmd,
        drill_cmd,
    ):
        group.register(app)


_register()


def main() -> None:
    app()
