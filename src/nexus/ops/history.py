"""Restart history from the supervisor's status file: a crash loop named with its cause (the incident
ran 388 restarts an hour before anyone looked)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nexus.common import NexusPaths
from nexus.ops.findings import Finding, Severity, ok
from nexus.supervisor.control import status
from nexus.supervisor.records import RunFiles

RESTARTS_PER_HOUR_WARN = 10

_CAUSE_REMEDY = {
    "port": "another process holds the port: see the port finding above, or run `nexus cleanup`",
    "config": "fix nexus.toml (the config finding names the key); the supervisor picks the change up",
    "auth": "see the auth findings: `nexus auth list`, then log in again or add a token",
    "dependency": "a dependency failed to import or the store cannot open: reinstall Nexus, see `nexus logs`",
    "watchdog": "the gateway hung (no heartbeat): see `nexus logs gateway` for what it was doing",
    "liveness": "the gateway stopped answering /healthz: see `nexus logs gateway`",
    "start-timeout": "the gateway did not become ready in time: see `nexus logs gateway`",
}


@dataclass(frozen=True)
class HistoryFacts:
    supervisor_state: str
    restarts_last_hour: int
    last_exit: Mapping[str, Any] | None


def gather_history(paths: NexusPaths) -> HistoryFacts:
    if not RunFiles.of(paths).lock.exists():  # no supervisor ever ran here; looking must not create run/
        return HistoryFacts("stopped", 0, None)
    doc = status(paths)
    return HistoryFacts(
        supervisor_state=str(doc["supervisor"].get("state")),
        restarts_last_hour=int(doc["gateway"].get("restarts_last_hour") or 0),
        last_exit=doc["gateway"].get("last_exit"),
    )


def check_history(facts: HistoryFacts) -> Finding:
    """Pure: crash loop, blocked, or too many restarts, each with the last cause and its remedy."""
    last = facts.last_exit or {}
    cause = str(last.get("cause") or "unknown")
    why = f"last cause {cause}: {last.get('message') or 'no message'}"
    remedy = _CAUSE_REMEDY.get(cause, "see `nexus logs` for the gateway's last words")
    details = {"restarts_last_hour": facts.restarts_last_hour, "last_cause": cause}
    if facts.supervisor_state == "crash-loop":
        return Finding(
            "restarts",
            Severity.ERROR,
            f"the gateway is in a crash loop: {facts.restarts_last_hour} restarts in the last hour; {why}",
            remedy=remedy,
            details=details,
        )
    if facts.supervisor_state == "blocked":
        return Finding(
            "restarts",
            Severity.ERROR,
            f"the supervisor is blocked: the gateway cannot run as configured; {why}",
            remedy=remedy,
            details=details,
        )
    if facts.restarts_last_hour >= RESTARTS_PER_HOUR_WARN:
        return Finding(
            "restarts",
            Severity.WARN,
            f"{facts.restarts_last_hour} gateway restarts in the last hour; {why}",
            remedy=remedy,
            details=details,
        )
    return ok("restarts", f"{facts.restarts_last_hour} gateway restart(s) in the last hour", **details)
