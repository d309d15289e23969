"""Errors of the supervisor, each with the exit code ``nexus up`` returns for it.

NexusError
└── SupervisorError
    ├── PortHeldByForeign   the port is held by a process that is not ours: named, never killed
    └── SurvivorsRemain     an earlier generation could not be killed (uninterruptible sleep?)
"""

from __future__ import annotations

from nexus.errors import NexusError

EXIT_PORT_FOREIGN = 75
"""``nexus up`` exit code when another program holds the port (sysexits EX_TEMPFAIL: free it, retry)."""
EXIT_SURVIVORS = 70


class SupervisorError(NexusError):
    exit_code = 1


class PortHeldByForeign(SupervisorError):
    exit_code = EXIT_PORT_FOREIGN

    def __init__(self, host: str, port: int, holder: str, pid: int | None) -> None:
        self.port = port
        self.pid = pid
        how = (
            f"stop it (kill {pid}) or choose another port: set [gateway] port in nexus.toml or NEXUS_PORT"
            if pid is not None
            else f"find it with `lsof -iTCP:{port} -sTCP:LISTEN` (as root) or choose another port with NEXUS_PORT"
        )
        super().__init__(f"port {host}:{port} is held by {holder}, which is not a Nexus process; {how}")


class SurvivorsRemain(SupervisorError):
    exit_code = EXIT_SURVIVORS
