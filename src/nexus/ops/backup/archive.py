"""Create, verify, list and restore Nexus backup archives (``.tar.gz``).

An archive holds ``manifest.json`` (first), ``nexus.toml``, ``workspace/...``, ``state.db`` (an online
SQLite copy, integrity-checked; channel routes, pairings and schedules live in it) and, only when asked,
``secrets.enc``: the auth store, the channel secrets and the gateway token sealed with a passphrase
(:mod:`nexus.ops.backup.sealed`). Nothing secret is ever written in clear.

Restoring writes into a fresh directory only: the whole archive is verified first, members are
written to a staging directory beside the target, read back and checked again, and only then is the
staging directory renamed into place, so a failed restore leaves nothing half-written behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus import __version__
from nexus.auth.source import resolve_store_path
from nexus.common import NexusPaths, Secret, atomic_write_bytes
from nexus.common.atomic import fsync_directory
from nexus.config import NexusConfig
from nexus.ops.backup import sealed, snapshot
from nexus.ops.backup.errors import ArchiveDamaged, BackupError, RestoreTargetInUse
from nexus.ops.backup.manifest import (
    CONFIG,
    MANIFEST_NAME,
    SECRETS_NAME,
    STATE_DB,
    WORKSPACE,
    Manifest,
    Member,
    problems,
)

PREFIX = "nexus-backup-"
SUFFIX = ".tar.gz"
CHANNEL_SECRETS = "channels-secrets.json"
AUTH_STORE = "auth-profiles.json"
GATEWAY_TOKEN = "gateway.token"


@dataclass(frozen=True)
class Created:
    path: Path
    manifest: Manifest
    pruned: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Restored:
    home: Path
    manifest: Manifest
    secrets_restored: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Listed:
    path: Path
    size: int
    manifest: Manifest | None
    problem: str | None = None


@dataclass
class _Collected:
    files: dict[str, bytes] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


def default_dir(paths: NexusPaths, config: NexusConfig) -> Path:
    return Path(config.backup.dir).expanduser() if config.backup.dir else paths.home / "backups"


# --------------------------------------------------------------------------- create


def create_backup(
    paths: NexusPaths,
    config: NexusConfig,
    *,
    to: Path | None = None,
    passphrase: Secret | None = None,
    environ: Mapping[str, str] | None = None,
    now: Callable[[], float] = time.time,
    kdf: sealed.KdfParams | None = None,
) -> Created:
    """Take one archive of ``paths.home``; prune the default directory down to ``[backup] keep``."""
    env = os.environ if environ is None else environ
    target_dir = Path(to) if to is not None else default_dir(paths, config)
    collected = _collect(paths)
    if passphrase is not None:
        secrets = _collect_secrets(paths, config, env)
        collected.files[SECRETS_NAME] = sealed.seal(secrets, passphrase, params=kdf)
        collected.modes[SECRETS_NAME] = 0o600
        collected.facts["secrets_members"] = ", ".join(sorted(secrets)) or "none found"
    created_at = now()
    manifest = Manifest(
        created_at=created_at,
        nexus_version=__version__,
        members=tuple(
            Member.of(name, data, collected.modes.get(name, 0o600))
            for name, data in sorted(collected.files.items())
        ),
        secrets=passphrase is not None,
        facts=collected.facts,
    )
    target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = _unused_name(target_dir, created_at)
    atomic_write_bytes(path, _tar(manifest, collected.files), mode=0o600)
    pruned = _prune(target_dir, config.backup.keep) if to is None else ()
    return Created(path, manifest, pruned)


def _collect(paths: NexusPaths) -> _Collected:
    out = _Collected()
    if paths.config_file.is_file():
        out.files[CONFIG] = paths.config_file.read_bytes()
    if paths.workspace.is_dir():
        for file in sorted(paths.workspace.rglob("*")):
            if file.is_symlink() or not file.is_file():
                continue  # a link could point anywhere (a secret outside the home): never followed
            name = f"{WORKSPACE}/{file.relative_to(paths.workspace).as_posix()}"
            out.files[name] = file.read_bytes()
            out.modes[name] = file.stat().st_mode & 0o777
    if not paths.state_db.exists():
        out.facts["state_db"] = "none yet (the gateway has not run here)"
        return out
    with tempfile.TemporaryDirectory(prefix="nexus-backup-") as tmp:
        copy = Path(tmp) / STATE_DB
        out.facts.update(snapshot.snapshot(paths.state_db, copy))
        out.files[STATE_DB] = copy.read_bytes()
    return out


def _collect_secrets(paths: NexusPaths, config: NexusConfig, environ: Mapping[str, str]) -> dict[str, bytes]:
    found = {}
    for name, source in (
        (AUTH_STORE, resolve_store_path(config, paths, environ)),
        (CHANNEL_SECRETS, paths.home / CHANNEL_SECRETS),
        (GATEWAY_TOKEN, paths.token_file),
    ):
        with contextlib.suppress(FileNotFoundError):
            found[name] = source.read_bytes()
    return found


def _unused_name(directory: Path, created_at: float) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(created_at))
    candidate = directory / f"{PREFIX}{stamp}{SUFFIX}"
    n = 1
    while candidate.exists():
        n += 1
        candidate = directory / f"{PREFIX}{stamp}-{n}{SUFFIX}"
    return candidate


def _tar(manifest: Manifest, files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data, mode in [
            (MANIFEST_NAME, manifest.to_bytes(), 0o600),
            *((m.path, files[m.path], m.mode) for m in manifest.members),
        ]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(manifest.created_at)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _prune(directory: Path, keep: int) -> tuple[Path, ...]:
    archives = sorted(directory.glob(f"{PREFIX}*{SUFFIX}"), key=lambda p: p.stat().st_mtime)
    doomed = archives[:-keep] if len(archives) > keep else []
    for path in doomed:
        path.unlink(missing_ok=True)
    return tuple(doomed)


# --------------------------------------------------------------------------- read and verify


def read_archive(path: Path) -> tuple[Manifest, dict[str, bytes]]:
    """The manifest and every member; ArchiveDamaged naming what is wrong."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for info in tar:
                if info.isdir():
                    continue
                if not info.isfile():
                    raise ArchiveDamaged(f"{path}: member {info.name} is a link or device; refused")
                extracted = tar.extractfile(info)
                if extracted is None:
                    raise ArchiveDamaged(f"{path}: member {info.name} cannot be read")
                if info.name in files:
                    raise ArchiveDamaged(f"{path}: member {info.name} appears twice; refused")
                files[info.name] = extracted.read()
    except FileNotFoundError as exc:
        raise BackupError(f"{path} does not exist; `nexus backup list` shows the archives") from exc
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ArchiveDamaged(
            f"{path} is not a readable archive (truncated or damaged: {exc}); "
            "use another one (`nexus backup list`) or take a new backup"
        ) from exc
    raw = files.pop(MANIFEST_NAME, None)
    if raw is None:
        raise ArchiveDamaged(f"{path} has no manifest.json: it is not a Nexus backup")
    try:
        manifest = Manifest.from_bytes(raw)
    except ValueError as exc:
        raise ArchiveDamaged(f"{path}: {exc}") from exc
    return manifest, files


def verify_archive(path: Path, *, passphrase: Secret | None = None) -> Manifest:
    """Every member against the manifest's SHA-256, state.db's integrity, and the secrets when a
    passphrase is given. Returns the manifest; raises ArchiveDamaged / WrongPassphrase."""
    manifest, files = read_archive(path)
    _check_members(path, manifest, files)
    if passphrase is not None and manifest.secrets:
        sealed.unseal(files[SECRETS_NAME], passphrase)
    return manifest


def _check_members(path: Path, manifest: Manifest, files: Mapping[str, bytes]) -> None:
    found = problems(manifest, files)
    if found:
        lines = "\n".join(f"  - {p}" for p in found)
        raise ArchiveDamaged(
            f"{path} is damaged:\n{lines}\nuse another archive (`nexus backup list`) or take a new backup"
        )
    if STATE_DB in files:
        with tempfile.TemporaryDirectory(prefix="nexus-verify-") as tmp:
            copy = Path(tmp) / STATE_DB
            copy.write_bytes(files[STATE_DB])
            snapshot.check(copy)


def list_backups(directory: Path) -> list[Listed]:
    """Archives in ``directory``, newest first, each with its manifest (or why it cannot be read)."""
    out = []
    for path in sorted(directory.glob(f"{PREFIX}*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True):
        size = path.stat().st_size
        try:
            out.append(Listed(path, size, _first_manifest(path)))
        except ArchiveDamaged as exc:
            out.append(Listed(path, size, None, str(exc)))
    return out


def _first_manifest(path: Path) -> Manifest:
    """Only the manifest (the first member), without reading the rest."""
    try:
        with tarfile.open(path, mode="r|gz") as tar:
            info = tar.next()
            extracted = tar.extractfile(info) if info is not None and info.name == MANIFEST_NAME else None
            if extracted is None:
                raise ArchiveDamaged(f"{path}: no manifest.json first")
            return Manifest.from_bytes(extracted.read())
    except (tarfile.TarError, EOFError, zlib.error, OSError, ValueError) as exc:
        raise ArchiveDamaged(f"{path}: unreadable ({exc})") from exc


# --------------------------------------------------------------------------- restore


def restore_archive(
    path: Path,
    into: Path,
    *,
    passphrase: Secret | None = None,
    without_secrets: bool = False,
) -> Restored:
    """Verify ``path``, then restore it into the fresh directory ``into`` (see the module docstring)."""
    into = Path(into).expanduser().absolute()
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise RestoreTargetInUse(
            f"{into} exists and is not empty: restore only into a new directory "
            "(never over a live home); pick another --into"
        )
    manifest, files = read_archive(path)
    _check_members(path, manifest, files)
    secrets: dict[str, bytes] = {}
    if manifest.secrets and not without_secrets:
        if passphrase is None:
            raise BackupError(
                f"{path} holds encrypted secrets: pass --passphrase-file F, or --without-secrets to "
                "restore everything else (then log in again with `nexus auth`)"
            )
        secrets = sealed.unseal(files[SECRETS_NAME], passphrase)
    into.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{into.name}.restore-", dir=into.parent))
    try:
        os.chmod(stage, 0o700)
        written: dict[str, int] = {}
        for member in manifest.members:
            if member.path == SECRETS_NAME:
                continue
            mode = 0o600 if member.path in (STATE_DB, CONFIG) else member.mode & 0o700 or 0o600
            atomic_write_bytes(stage / member.path, files[member.path], mode=mode)
            written[member.path] = mode
        for name, data in secrets.items():
            atomic_write_bytes(stage / name, data, mode=0o600)
        _check_on_disk(stage, manifest, secrets)
        for sub in (WORKSPACE, "logs", "run"):
            (stage / sub).mkdir(mode=0o700, exist_ok=True)
        if into.exists():
            into.rmdir()
        os.rename(stage, into)
        fsync_directory(into.parent)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    notes = []
    if manifest.secrets and without_secrets:
        notes.append("secrets were left out: add credentials with `nexus auth` before `nexus up`")
    if not manifest.secrets:
        notes.append("the archive holds no secrets: add credentials with `nexus auth` before `nexus up`")
    return Restored(into, manifest, tuple(sorted(secrets)), tuple(notes))


def _check_on_disk(root: Path, manifest: Manifest, secrets: Mapping[str, bytes]) -> None:
    """Read back what was written: the digests again, state.db's integrity, secrets' modes."""
    on_disk = {m.path: (root / m.path).read_bytes() for m in manifest.members if m.path != SECRETS_NAME}
    expected = Manifest(
        manifest.created_at,
        manifest.nexus_version,
        tuple(m for m in manifest.members if m.path != SECRETS_NAME),
    )
    found = problems(expected, on_disk)
    for name, data in secrets.items():
        file = root / name
        if file.read_bytes() != data or file.stat().st_mode & 0o077:
            found.append(f"{name}: not written back exactly, or not private (0600)")
    if found:
        raise BackupError("the restored files do not match the archive: " + "; ".join(found))
    if STATE_DB in on_disk:
        snapshot.check(root / STATE_DB)
