"""The model layer: providers behind one seam, pure classification and cooldown policy, the router.

What other layers may use is named here. ``Router.complete(CallRequest, sink) -> CallResult`` is one
model call with fallback (text, tool calls, usage); a turn that runs tools is the caller's loop.
"""

from nexus.models.errors import ModelFailureKind, ProviderError
from nexus.models.factory import build_router
from nexus.models.router import Candidate, ProbeResult, Router
from nexus.models.turn import (
    AttemptStarted,
    CallRequest,
    CallResult,
    Cooldown,
    Delta,
    EventSink,
    Fallback,
    NoProviderConfigured,
    Refreshing,
    RouterEvent,
    Turn,
    TurnFailed,
    TurnResult,
)
from nexus.models.types import (
    ChatMessage,
    ContentBlock,
    ModelRequest,
    TextBlock,
    ToolCall,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
    Usage,
)

__all__ = [
    "AttemptStarted",
    "CallRequest",
    "CallResult",
    "Candidate",
    "ChatMessage",
    "ContentBlock",
    "Cooldown",
    "Delta",
    "EventSink",
    "Fallback",
    "ModelFailureKind",
    "ModelRequest",
    "NoProviderConfigured",
    "ProbeResult",
    "ProviderError",
    "Refreshing",
    "Router",
    "RouterEvent",
    "TextBlock",
    "ToolCall",
    "ToolResultBlock",
    "ToolSpec",
    "ToolUseBlock",
    "Turn",
    "TurnFailed",
    "TurnResult",
    "Usage",
    "build_router",
]
