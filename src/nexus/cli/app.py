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
    from nexus.cli import auth_cmd, gateway_cmd, supervisor_cmd

    gateway_cmd.register(app)
    supervisor_cmd.register(app)
    auth_cmd.register(app)

    from nexus.cli import ask_cmd

    ask_cmd.register(app)

    from nexus.cli import chat_cmd

    chat_cmd.register(app)

    from nexus.cli import models_cmd

    models_cmd.register(app)

    from nexus.cli import doctor_cmd

    doctor_cmd.register(app)

    from nexus.cli import service_cmd

    service_cmd.register(app)

    from nexus.cli import import_cmd

    import_cmd.register(app)

    from nexus.cli import channels_cmd

    channels_cmd.register(app)


_register()


def main() -> None:
    app()
