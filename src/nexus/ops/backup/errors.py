"""The backup error tree; every message names the problem and the fix.

BackupError                 (nexus.errors.NexusError)
├── ArchiveDamaged          a member is missing, extra, unsafe or its SHA-256 does not match
├── WrongPassphrase         the secrets do not open with this passphrase
├── RestoreTargetInUse      ``--into`` names a directory that exists and is not empty
└── PushFailed              ``nexus backup git`` could not push (the owner is alerted)
"""

from __future__ import annotations

from nexus.errors import NexusError


class BackupError(NexusError):
    """A backup, verify or restore that cannot go on."""


class ArchiveDamaged(BackupError):
    pass


class WrongPassphrase(BackupError):
    pass


class RestoreTargetInUse(BackupError):
    pass


class PushFailed(BackupError):
    pass
