"""The root of every Nexus error tree.

    NexusError
    ├── ConfigError            (nexus.config)   bad nexus.toml: exit 78, restarting will not help
    ├── StoreError             (nexus.store)    SQLite state cannot be opened or written
    ├── AuthError              (nexus.auth)     credential store and refresh failures
    ├── ProviderError          (nexus.models)   one classified model-call failure
    └── LockTimeout            (nexus.common)   a host-wide lock was not obtained in time

Subsystems derive their own trees from these; foreign exceptions are translated once, at the
boundary where they enter Nexus, and chained with ``from``.
"""

from __future__ import annotations

EX_CONFIG = 78
"""sysexits.h EX_CONFIG: the process cannot run as configured; a supervisor must not restart it blindly."""


class NexusError(Exception):
    """Base class of every error Nexus raises on purpose."""


class LockTimeout(NexusError):
    """A host-wide file lock was not obtained within its bound."""
