"""Backups that are proven restorable: ``nexus backup create|verify|list|restore|git``.

archive.py    create_backup, verify_archive, list_backups, restore_archive (the archive format)
manifest.py   the manifest and its pure checks (SHA-256 of every member, safe paths)
snapshot.py   state.db by SQLite's online backup API, then PRAGMA integrity_check
sealed.py     secrets sealed with a passphrase (scrypt + AES-256-GCM, from ``cryptography``)
git.py        commit the workspace to git and push; a failed push alerts the owner
errors.py     BackupError and its children
"""

from nexus.ops.backup.archive import (
    Created,
    Listed,
    Restored,
    create_backup,
    default_dir,
    list_backups,
    read_archive,
    restore_archive,
    verify_archive,
)
from nexus.ops.backup.errors import (
    ArchiveDamaged,
    BackupError,
    PushFailed,
    RestoreTargetInUse,
    WrongPassphrase,
)
from nexus.ops.backup.git import GitOutcome, git_backup
from nexus.ops.backup.sealed import KdfParams, read_passphrase

__all__ = [
    "ArchiveDamaged",
    "BackupError",
    "Created",
    "GitOutcome",
    "KdfParams",
    "Listed",
    "PushFailed",
    "RestoreTargetInUse",
    "Restored",
    "WrongPassphrase",
    "create_backup",
    "default_dir",
    "git_backup",
    "list_backups",
    "read_archive",
    "read_passphrase",
    "restore_archive",
    "verify_archive",
]
