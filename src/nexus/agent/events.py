"""What the tool loop tells the outside while it works (mapped onto the gateway's event vocabulary)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nexus.store.approvals import Approval


@dataclass(frozen=True)
class ToolStep:
    """``run.tool``: one tool call changed state (started, done, error, interrupted, refused, ...)."""

    run_id: str
    call_id: str
    name: str
    summary: str
    state: str
    detail: str = ""


@dataclass(frozen=True)
class ApprovalRequested:
    approval: Approval


@dataclass(frozen=True)
class ApprovalResolved:
    approval: Approval


LoopEvent = ToolStep | ApprovalRequested | ApprovalResolved
LoopSink = Callable[[LoopEvent], None]
