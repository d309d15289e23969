"""Workspace memory files that do not fit the system prompt: the gateway cuts them (and says so in
the prompt); the doctor tells the operator, with the same numbers, before anyone wonders why the
assistant forgot something. It reads the files itself, the way the gateway would."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nexus.memory import Cut, assemble, read_workspace
from nexus.ops.findings import Finding, Severity, ok


@dataclass(frozen=True)
class MemoryFacts:
    workspace: str
    included: tuple[str, ...]
    cuts: tuple[Cut, ...]
    file_chars: int
    total_chars: int


def gather_memory(workspace: Path, *, file_chars: int, total_chars: int) -> MemoryFacts:
    assembled = assemble(
        read_workspace(workspace, file_chars=file_chars), file_chars=file_chars, total_chars=total_chars
    )
    return MemoryFacts(str(workspace), assembled.included, assembled.cuts, file_chars, total_chars)


def check_memory(facts: MemoryFacts) -> Finding:
    if not facts.cuts:
        shown = ", ".join(facts.included) or "none present"
        return ok("memory", f"workspace memory fits the prompt ({shown})")
    return Finding(
        "memory",
        Severity.WARN,
        "workspace memory is cut to fit the system prompt: " + "; ".join(c.describe() for c in facts.cuts),
        remedy=(
            f"trim those files in {facts.workspace} (move old facts out of MEMORY.md), or raise [agent] "
            f"memory_file_chars ({facts.file_chars}) / memory_total_chars ({facts.total_chars}) in nexus.toml"
        ),
        details={"cuts": [c.describe() for c in facts.cuts]},
    )
