"""The assistant's hands: tools, the workspace they act in, approvals, and the durable tool loop.

Layering: below the gateway (which drives the loop inside a run) and above channels, models and the
store (which the tools and the journal use). ``journal.decide`` is the pure heart; ``loop.ToolLoop``
is the only I/O around it.
"""

from nexus.agent.journal import Limits, ModelCalled, ToolCall, decide
from nexus.agent.loop import ApprovalBell, LoopEnd, ModelCaller, ToolLoop, ToolWorld
from nexus.agent.registry import ToolRegistry, ToolSpec
from nexus.agent.tool import SideEffect, Tool, ToolContext, ToolError, ToolInput, ToolResult
from nexus.agent.workspace import OutsideWorkspace, Workspace

__all__ = [
    "ApprovalBell",
    "Limits",
    "LoopEnd",
    "ModelCalled",
    "ModelCaller",
    "OutsideWorkspace",
    "SideEffect",
    "Tool",
    "ToolCall",
    "ToolContext",
    "ToolError",
    "ToolInput",
    "ToolLoop",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
    "ToolWorld",
    "Workspace",
    "decide",
]
