"""The supervisor behind ``nexus up``: keeps the gateway answering, whatever dies.

It owns the listening socket and hands it to each generation as fd 3, contains each generation in its
own session (and cgroup where one is writable) as a child subreaper, notices exits by pidfd, health by
sd_notify READY/WATCHDOG and an HTTP liveness probe, and restarts by a pure policy (``policy``).
It imports only ``nexus.config``, ``nexus.common`` and ``nexus.errors`` and starts the gateway by exec,
so a broken gateway import can never break the watchdog. See docs/supervisor.md.
"""

from nexus.supervisor.child import MARKER_ENV
from nexus.supervisor.control import (
    EXIT_NOT_READY,
    EXIT_NOT_RUNNING,
    EXIT_READY,
    EXIT_STUCK,
    EXIT_UNKNOWN,
    down,
    gateway_options,
    load_settings,
    lock_owner,
    lock_owner_of,
    render_status,
    run_supervisor,
    signal_supervisor,
    start_background,
    status,
    status_all,
    status_exit_code,
)
from nexus.supervisor.errors import EXIT_PORT_FOREIGN, PortHeldByForeign, SupervisorError
from nexus.supervisor.health import HealthUrl
from nexus.supervisor.identity import GATEWAY, Instance, marker_for
from nexus.supervisor.kernel import KernelFeatures
from nexus.supervisor.loop import Options, Supervisor
from nexus.supervisor.records import GenerationRecord, RunFiles, load_generations
from nexus.supervisor.states import ChildState, SupervisorState

__all__ = [
    "EXIT_NOT_READY",
    "EXIT_NOT_RUNNING",
    "EXIT_PORT_FOREIGN",
    "EXIT_READY",
    "EXIT_STUCK",
    "EXIT_UNKNOWN",
    "GATEWAY",
    "MARKER_ENV",
    "ChildState",
    "GenerationRecord",
    "HealthUrl",
    "Instance",
    "KernelFeatures",
    "Options",
    "PortHeldByForeign",
    "RunFiles",
    "Supervisor",
    "SupervisorError",
    "SupervisorState",
    "down",
    "gateway_options",
    "load_generations",
    "load_settings",
    "lock_owner",
    "lock_owner_of",
    "marker_for",
    "render_status",
    "run_supervisor",
    "signal_supervisor",
    "start_background",
    "status",
    "status_all",
    "status_exit_code",
]
