"""``nexus backup create|verify|list|restore|git``: backups proven restorable (docs/backup.md).

Exit codes: 0 done; 1 the archive is damaged, the passphrase is wrong, the push failed (alerted) or the
target is in use; 78 a bad config.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from nexus.errors import EX_CONFIG

if TYPE_CHECKING:
    from nexus.common import NexusPaths, Secret
    from nexus.config import NexusConfig

backup_app = typer.Typer(help="Back up and restore this Nexus home (docs/backup.md).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(backup_app, name="backup")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"nexus backup: {message}", err=True)
    return typer.Exit(code)


def _setup() -> tuple[NexusPaths, NexusConfig]:
    from nexus.common import NexusPaths
    from nexus.config import ConfigError, load_config

    paths = NexusPaths.from_env()
    try:
        return paths, load_config(paths)
    except ConfigError as exc:
        raise _fail(str(exc), EX_CONFIG) from exc


def _passphrase(path: Path | None) -> Secret | None:
    from nexus.ops.backup import BackupError, read_passphrase

    if path is None:
        return None
    try:
        return read_passphrase(path)
    except BackupError as exc:
        raise _fail(str(exc)) from exc


@backup_app.command("create")
def create(
    to: Path | None = typer.Option(None, "--to", help="Directory for the archive (default \\[backup] dir)."),
    include_secrets: bool = typer.Option(
        False, "--include-secrets", help="Also the credentials, sealed with --passphrase-file."
    ),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", help="A file whose first line is the passphrase (8+ characters)."
    ),
) -> None:
    """Archive nexus.toml, the workspace and state.db (online, integrity-checked); secrets only if asked."""
    from nexus.ops.backup import BackupError, create_backup
    from nexus.ops.backup.manifest import summary

    if include_secrets != (passphrase_file is not None):
        raise _fail("--include-secrets and --passphrase-file go together: secrets are never stored in clear")
    paths, config = _setup()
    try:
        created = create_backup(paths, config, to=to, passphrase=_passphrase(passphrase_file))
    except BackupError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"created {created.path}")
    for line in summary(created.manifest):
        typer.echo(f"  {line}")
    for old in created.pruned:
        typer.echo(f"  removed old archive {old.name} ([backup] keep = {config.backup.keep})")


@backup_app.command("verify")
def verify(
    archive: Path = typer.Argument(..., help="The archive to check."),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", help="Also prove the sealed secrets open with this passphrase."
    ),
) -> None:
    """Check every member's SHA-256 against the manifest and state.db's integrity."""
    from nexus.ops.backup import BackupError, verify_archive
    from nexus.ops.backup.manifest import summary

    try:
        manifest = verify_archive(archive, passphrase=_passphrase(passphrase_file))
    except BackupError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"ok: {archive} matches its manifest")
    for line in summary(manifest):
        typer.echo(f"  {line}")
    if manifest.secrets and passphrase_file is not None:
        typer.echo("  secrets open with this passphrase")


@backup_app.command("list")
def list_cmd(
    directory: Path | None = typer.Option(None, "--dir", help="Where to look (default \\[backup] dir)."),
) -> None:
    """The archives, newest first: when, size, whether secrets are inside."""
    from nexus.ops.backup import default_dir, list_backups

    paths, config = _setup()
    where = directory or default_dir(paths, config)
    found = list_backups(where) if where.is_dir() else []
    if not found:
        typer.echo(f"no archives in {where}; take one with `nexus backup create`")
        return
    now = time.time()
    for item in found:
        if item.manifest is None:
            typer.echo(f"{item.path.name}  {item.size:>10}  UNREADABLE: {item.problem}")
            continue
        age_h = (now - item.manifest.created_at) / 3600
        secrets = "secrets sealed" if item.manifest.secrets else "no secrets"
        typer.echo(f"{item.path.name}  {item.size:>10}  {age_h:6.1f} h ago  {secrets}")


@backup_app.command("restore")
def restore(
    archive: Path = typer.Argument(..., help="The archive to restore."),
    into: Path = typer.Option(..., "--into", help="A new (or empty) directory; never the live home."),
    passphrase_file: Path | None = typer.Option(None, "--passphrase-file", help="Opens the sealed secrets."),
    without_secrets: bool = typer.Option(False, "--without-secrets", help="Leave sealed secrets out."),
) -> None:
    """Verify, then restore into a fresh directory; start it with `NEXUS_HOME=DIR nexus up`."""
    from nexus.ops.backup import BackupError, restore_archive

    try:
        restored = restore_archive(
            archive, into, passphrase=_passphrase(passphrase_file), without_secrets=without_secrets
        )
    except BackupError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"restored {archive} into {restored.home} and verified it")
    if restored.secrets_restored:
        typer.echo(f"  secrets (0600): {', '.join(restored.secrets_restored)}")
    for note in restored.notes:
        typer.echo(f"  note: {note}")
    typer.echo(f"  start it: NEXUS_HOME={restored.home} nexus up")


@backup_app.command("git")
def git(
    include_archive: bool | None = typer.Option(
        None, "--include-archive/--no-archive", help="Also commit the newest archive (default from config)."
    ),
) -> None:
    """Commit the workspace to \\[backup] git_repo and push to \\[backup] git_remote (cron-friendly)."""
    from nexus.ops.backup import BackupError, git_backup

    paths, config = _setup()
    try:
        outcome = git_backup(paths, config, include_archive=include_archive)
    except BackupError as exc:
        raise _fail(str(exc)) from exc
    state = f"committed {outcome.commit[:12]}" if outcome.committed and outcome.commit else "no change"
    pushed = f", pushed to {outcome.pushed_to}" if outcome.pushed_to else ", no [backup] git_remote set"
    typer.echo(f"{outcome.repo}: {state}{pushed}")
