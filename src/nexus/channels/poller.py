"""One consumer per bot credential on this host: a flock keyed by a hash of the credential.

Two gateways (two NEXUS_HOMEs, or an old generation not yet gone) on one token would fight over the
platform's connection (Telegram 409s, a second Slack socket sharing the events, two Discord sessions
answering everything twice). The second one finds the lock held, gets :class:`Conflict` with
``local=True`` and waits in standby, sending nothing, until the holder dies.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from nexus.channels.errors import Conflict
from nexus.common.locks import FileLock
from nexus.common.secret import Secret


def lock_path(lock_dir: Path, kind: str, credential: Secret) -> Path:
    digest = hashlib.sha256(f"nexus-{kind}:".encode() + credential.reveal().encode()).hexdigest()[:24]
    return Path(lock_dir) / f"{kind}-{digest}.lock"


def hold(lock: FileLock, *, what: str) -> None:
    """Take ``lock`` (or keep it) for this process, or raise Conflict naming the holder."""
    if not lock.held and not lock.try_acquire():
        holder = lock.read_owner().strip() or "another process"
        raise Conflict(
            f"another Nexus gateway ({holder}) already holds {what} on this host; this one stays in "
            "standby and takes over if that one stops",
            local=True,
        )
    lock.write_owner(f"pid {os.getpid()}")
