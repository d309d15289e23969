"""The local gateway as the CLI's gateway clients reach it: address from the config, token from home."""

from __future__ import annotations

from typing import Any

import typer


def local_endpoint(command: str, *, port: int | None = None) -> Any:
    """The :class:`nexus.client.Endpoint` of this machine's gateway; a bad config exits 78, naming it."""
    from nexus.client import Endpoint
    from nexus.common.paths import NexusPaths
    from nexus.config import ConfigError, load_config

    paths = NexusPaths.from_env()
    try:
        config = load_config(paths)
    except ConfigError as exc:
        typer.echo(f"nexus {command}: {exc}", err=True)
        raise typer.Exit(78) from exc
    return Endpoint.local(paths, port=port or config.gateway.port, host=config.gateway.bind)
