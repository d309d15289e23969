"""The root of every Nexus error tree (``tests/test_error_tree.py`` checks this list is complete).

    NexusError
    ├── ConfigError            (nexus.config)      bad nexus.toml: exit 78, restarting will not help
    ├── ProtocolError          (nexus.protocol)    input refused at a door (frame, body, message)
    ├── StoreError             (nexus.store)       SQLite state cannot be opened or written
    ├── AuthError              (nexus.auth)        credential store and refresh failures
    ├── ProviderError          (nexus.models)      one classified model-call failure
    ├── TurnFailed             (nexus.models)      every candidate of a turn failed or is cooling
    ├── NoProviderConfigured   (nexus.models)      no candidate has a credential: answer with setup help
    ├── ChannelError           (nexus.channels)    a platform call failed, classified for retry
    ├── ToolError              (nexus.agent)       a tool could not do what the model asked
    ├── ClientError            (nexus.client)      talking to the gateway failed
    ├── StartupError           (nexus.gateway)     the gateway cannot start as configured
    ├── SupervisorError        (nexus.supervisor)  the supervisor cannot keep the gateway up
    ├── BackupError            (nexus.ops.backup)  an archive cannot be made, verified or restored
    ├── SandboxError           (nexus.drill)       a drill's sandbox could not be built or started
    ├── ScheduleError          (nexus.schedule)    a schedule does not parse (names the option or key)
    └── LockTimeout            (nexus.common)      a host-wide lock was not obtained in time

Subsystems derive their own trees from these; foreign exceptions are translated once, at the
boundary where they enter Nexus, and chained with ``from``. Outside the tree on purpose: life-cycle
violations (``InvalidRunTransition``, ``InvalidChannelTransition``, the supervisor's
``InvalidTransition``) are bugs, not conditions to handle, and stay ``RuntimeError``/``StoreError``.
"""

from __future__ import annotations

EX_CONFIG = 78
"""sysexits.h EX_CONFIG: the process cannot run as configured; a supervisor must not restart it blindly."""


class NexusError(Exception):
    """Base class of every error Nexus raises on purpose."""


class LockTimeout(NexusError):
    """A host-wide file lock was not obtained within its bound."""


class ProtocolError(NexusError, ValueError):
    """Input refused at one of the gateway's doors; the message names the field and the fix."""
