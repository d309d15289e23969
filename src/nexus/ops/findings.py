"""What every doctor check returns: a finding with its severity, its remedy and whether ``--fix`` may
apply that remedy. Findings are plain data, so checks stay pure and the output can be JSON."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    OK = 0
    INFO = 1
    """Worth knowing, nothing to do (does not change the exit code)."""
    WARN = 2
    ERROR = 3


class FixKind(enum.Enum):
    """The only remedies ``--fix`` may apply: none of them kills a foreign process or deletes data."""

    KILL_STALE = "kill-stale"
    """Kill processes verified to be stale Nexus processes of this state directory."""
    CHMOD = "chmod"
    """Narrow the mode of a file or directory we own."""
    REWRITE_UNIT = "rewrite-unit"
    """Regenerate a service file that Nexus itself wrote (it carries our header)."""


@dataclass(frozen=True)
class Fix:
    kind: FixKind
    target: str
    """A path (chmod, rewrite) or a description of the processes (kill)."""
    pids: tuple[tuple[int, float | None], ...] = ()
    """(pid, create time) of each process to kill: re-verified right before the signal."""
    mode: int | None = None


@dataclass(frozen=True)
class Finding:
    check: str
    severity: Severity
    finding: str
    remedy: str | None = None
    fix: Fix | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def fixable(self) -> bool:
        return self.fix is not None

    @property
    def counts(self) -> bool:
        """True when this finding makes the doctor exit 1."""
        return self.severity >= Severity.WARN

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check": self.check,
            "severity": self.severity.name.lower(),
            "finding": self.finding,
            "remedy": self.remedy,
            "fixable": self.fixable,
        }
        if self.details:
            out["details"] = self.details
        return out


def ok(check: str, finding: str, **details: Any) -> Finding:
    return Finding(check, Severity.OK, finding, details=dict(details))


EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_DOCTOR_FAILED = 2


def exit_code(findings: Iterable[Finding]) -> int:
    """0 when nothing needs attention, 1 when a warning or error remains."""
    return EXIT_FINDINGS if any(f.counts for f in findings) else EXIT_CLEAN
