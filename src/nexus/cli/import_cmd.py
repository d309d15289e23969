"""``nexus import openclaw [--from DIR] [--dry-run]``: model chain, fallbacks, profiles and their order
from an OpenClaw or Clawdbot install. OAuth logins the other install refreshes are borrowed or skipped,
never copied; nothing secret is printed."""

from __future__ import annotations

import os
from pathlib import Path

import typer

import_app = typer.Typer(help="Import settings and credentials from another assistant.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")


@import_app.command("openclaw")
def openclaw(
    source: Path | None = typer.Option(
        None, "--from", help="State dir (default ~/.openclaw, then ~/.clawdbot)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; write nothing."),
) -> None:
    """Create the equivalent Nexus config and profiles from an OpenClaw or Clawdbot state dir."""
    from nexus.auth.errors import AuthError
    from nexus.auth.source import resolve_store_path
    from nexus.auth.store import ProfileStore
    from nexus.common import NexusPaths
    from nexus.config import ConfigError, load_config
    from nexus.ops import openclaw as oc

    paths = NexusPaths.from_env()
    env = dict(os.environ)
    try:
        config = load_config(paths, environ=env)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(78) from exc
    home = Path(env.get("HOME") or str(Path.home()))
    try:
        src = oc.read_source(oc.find_source(home, source))
        store = ProfileStore(
            resolve_store_path(config, paths, env),
            environ=env,
            force_unreliable_fs=config.auth.force_unreliable_fs,
        )
        doc = store.files.read(fresh=True)
        existing = frozenset([*doc.profiles, *doc.invalid])
        text = paths.config_file.read_text() if paths.config_file.exists() else None
        plan = oc.plan_import(
            src,
            existing=existing,
            claude_refresh_fp=oc.claude_refresh_fingerprint(env),
            config_text=text,
            config_path=paths.config_file,
        )
        for line in plan.lines:
            typer.echo(line)
        if dry_run:
            typer.echo("dry run: nothing written")
            return
        paths.ensure()
        for line in oc.apply_import(plan, store, paths):
            typer.echo(line)
    except (oc.ImportFailed, AuthError) as exc:
        typer.echo(f"nexus import: {exc}", err=True)
        raise typer.Exit(1) from exc
