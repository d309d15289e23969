"""``nexus backup git``: commit the workspace (and optionally the newest archive) to a git repository
and push it to ``[backup] git_remote``. Meant for cron; a push that fails raises an owner alert
(``backup_failed``, through :mod:`nexus.alerts`) and a non-zero exit, never silence.

The repository is a plain working copy (``[backup] git_repo``, default ``$NEXUS_HOME/backup-git``)
whose ``workspace/`` mirrors the live one at each run. Only the workspace and sealed archives go in:
never a secret in clear. git runs with prompts off, so a remote asking for a password fails at once
instead of hanging the job.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nexus.alerts import Alert, Alerter, AlertKind
from nexus.common import NexusPaths
from nexus.config import NexusConfig
from nexus.ops.backup.archive import default_dir, list_backups
from nexus.ops.backup.errors import BackupError, PushFailed
from nexus.ops.programs import Runner, RunResult, run

GIT = ("env", "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=true", "git")
IDENTITY = ("-c", "user.name=Nexus backup", "-c", "user.email=nexus-backup@localhost")


@dataclass(frozen=True)
class GitOutcome:
    repo: Path
    committed: bool
    commit: str | None
    pushed_to: str | None


def repo_dir(paths: NexusPaths, config: NexusConfig) -> Path:
    return Path(config.backup.git_repo).expanduser() if config.backup.git_repo else paths.home / "backup-git"


def git_backup(
    paths: NexusPaths,
    config: NexusConfig,
    *,
    include_archive: bool | None = None,
    runner: Runner = run,
    alerter: Alerter | None = None,
) -> GitOutcome:
    """Mirror, commit, push. PushFailed (after alerting the owner) when the push does not go through."""
    repo = repo_dir(paths, config)
    branch = config.backup.git_branch

    def git(*args: str) -> RunResult:
        return runner([*GIT, "-C", str(repo), *args])

    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True, mode=0o700)
        _must(git("init", "-q", "-b", branch), "git init")
    _mirror(paths.workspace, repo / "workspace")
    with_archive = config.backup.git_include_archive if include_archive is None else include_archive
    if with_archive:
        _newest_archive_into(paths, config, repo / "archives")
    _must(git("add", "-A"), "git add")
    committed = git("diff", "--cached", "--quiet").code != 0
    if committed:
        stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
        _must(git(*IDENTITY, "commit", "-q", "-m", f"Nexus backup {stamp}"), "git commit")
    head = git("rev-parse", "--verify", "-q", "HEAD")
    commit = head.out.strip() if head.code == 0 else None
    remote = config.backup.git_remote
    if not remote or commit is None:
        return GitOutcome(repo, committed, commit, None)
    pushed = git("push", "-q", remote, f"HEAD:refs/heads/{branch}")
    if pushed.code != 0:
        why = (pushed.err or pushed.out).strip().splitlines()
        message = f"backup push to {remote} failed: {why[-1] if why else f'git exited {pushed.code}'}"
        (alerter or Alerter.from_config(config.alerts, paths)).notify(
            Alert(
                AlertKind.BACKUP_FAILED,
                "backup",
                "critical",
                message,
                f"check that {remote} is reachable and accepts pushes, then run `nexus backup git`",
                time.time(),
            )
        )
        raise PushFailed(message + "; the owner was alerted")
    return GitOutcome(repo, committed, commit, remote)


def _must(result: RunResult, what: str) -> None:
    if result.code != 0:
        raise BackupError(f"{what} failed (exit {result.code}): {result.err.strip()[:300]}")


def _mirror(source: Path, target: Path) -> None:
    """Make ``target`` an exact copy of ``source`` (files only; links are not followed)."""
    if target.exists():
        shutil.rmtree(target)
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True, ignore=_links)
    else:
        target.mkdir(parents=True)


def _links(directory: str, names: Sequence[str]) -> list[str]:
    return [n for n in names if Path(directory, n).is_symlink()]


def _newest_archive_into(paths: NexusPaths, config: NexusConfig, target: Path) -> None:
    newest = next(iter(list_backups(default_dir(paths, config))), None)
    if newest is None:
        raise BackupError("no archive to include: run `nexus backup create` first")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(newest.path, target / newest.path.name)
