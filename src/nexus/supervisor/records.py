"""What the supervisor leaves under ``run/`` for its successors and for ``nexus status``.

``generations.json``: the identity of each recent generation (pid, start time, command line, session,
cgroup), so a supervisor started after a ``kill -9`` of the previous one finds the survivors.
``status.json``: a snapshot rewritten atomically on every change; ``nexus status`` trusts it only
while the supervisor's lock is held (a dead supervisor's file is stale by definition).
``gateway-last-error.json`` is written by the gateway: the cause of its last fatal exit.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nexus.common import NexusPaths, atomic_write_text
from nexus.supervisor.identity import GATEWAY, Instance

KEEP_GENERATIONS = 20
GATEWAY_CAUSES = ("port", "config", "auth", "dependency", "crash")


@dataclass(frozen=True)
class RunFiles:
    run: Path

    @classmethod
    def of(cls, paths: NexusPaths, name: str = GATEWAY) -> RunFiles:
        """The gateway's (``run/``), or a named supervisor's (``run/supervise/NAME/``)."""
        return cls(Instance(paths, name).run_dir)

    @property
    def lock(self) -> Path:
        return self.run / "supervisor.lock"

    @property
    def generations(self) -> Path:
        return self.run / "generations.json"

    @property
    def status(self) -> Path:
        return self.run / "status.json"

    @property
    def last_error(self) -> Path:
        return self.run / "gateway-last-error.json"


@dataclass(frozen=True)
class GenerationRecord:
    number: int
    pid: int
    create_time: float | None
    cmdline: list[str]
    sid: int
    cgroup: str | None
    marker: str
    started_at: float


def load_generations(files: RunFiles) -> list[GenerationRecord]:
    try:
        raw = json.loads(files.generations.read_text())
        return [GenerationRecord(**item) for item in raw]
    except (OSError, ValueError, TypeError):
        return []


def save_generations(files: RunFiles, records: list[GenerationRecord]) -> None:
    data = [asdict(r) for r in records[-KEEP_GENERATIONS:]]
    atomic_write_text(files.generations, json.dumps(data, indent=1), mode=0o600)


def write_status(files: RunFiles, status: dict[str, Any]) -> None:
    atomic_write_text(files.status, json.dumps(status, indent=1, sort_keys=True), mode=0o600)


def read_status(files: RunFiles) -> dict[str, Any] | None:
    try:
        data = json.loads(files.status.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class LastError:
    cause: str
    message: str
    pid: int | None
    time: float | None


def read_last_error(files: RunFiles, *, pid: int, since: float) -> LastError | None:
    """The gateway's structured last error, if this generation (``pid``, started at ``since``) wrote it."""
    try:
        raw = json.loads(files.last_error.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    err_pid = raw.get("pid")
    err_time = raw.get("time")
    if err_pid != pid or (isinstance(err_time, int | float) and err_time < since - 1.0):
        return None  # an older generation's error: not the cause of this exit
    cause = str(raw.get("cause", "crash"))
    return LastError(
        cause=cause if cause in GATEWAY_CAUSES else "crash",
        message=str(raw.get("message", ""))[:500],
        pid=err_pid if isinstance(err_pid, int) else None,
        time=float(err_time) if isinstance(err_time, int | float) else None,
    )
