"""The model layer: providers behind one seam, pure classification and cooldown policy, the router.

What other layers may use is named here; the SDK adapters (``providers/``) load their SDK on first use.
"""

from nexus.models.errors import FailureKind, ProviderError
from nexus.models.factory import build_router
from nexus.models.router import Candidate, ProbeResult, Router
from nexus.models.turn import (
    AttemptRecord,
    AttemptStarted,
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
from nexus.models.types import ChatMessage, ModelRequest

__all__ = [
    "AttemptRecord",
    "AttemptStarted",
    "Candidate",
    "ChatMessage",
    "Cooldown",
    "Delta",
    "EventSink",
    "FailureKind",
    "Fallback",
    "ModelRequest",
    "NoProviderConfigured",
    "ProbeResult",
    "ProviderError",
    "Refreshing",
    "Router",
    "RouterEvent",
    "Turn",
    "TurnFailed",
    "TurnResult",
    "build_router",
]
