"""The gateway boundary between the model layer's events and the event vocabulary (pure).

The router reports what it does as :data:`nexus.models.turn.RouterEvent` values; clients, channels
and alerting speak :mod:`nexus.protocol.events`. This is the one place the first become the second,
so the model layer can change its own events without any consumer noticing.
"""

from __future__ import annotations

from nexus.models.turn import (
    AttemptStarted,
    Cooldown,
    Delta,
    Fallback,
    Refreshing,
    RouterEvent,
)
from nexus.protocol import events as ev


def from_router(event: RouterEvent, *, run_id: str, session: str) -> list[ev.Event]:
    """The vocabulary events one router event becomes for run ``run_id`` (often one, maybe none)."""
    if isinstance(event, Delta):
        return [ev.RunDelta(run_id=run_id, session=session, text=event.text)]
    if isinstance(event, AttemptStarted):
        return [
            ev.RunStatus(
                run_id=run_id,
                session=session,
                state=ev.RunState.CALLING,
                model=event.model,
                profile=event.profile,
            )
        ]
    if isinstance(event, Fallback):
        fields = {
            "from_model": event.from_model,
            "to_model": event.to_model,
            "reason": event.reason,
            "after_tokens": event.after_tokens,
        }
        return [
            ev.RunFallback(run_id=run_id, session=session, **fields),
            ev.ModelFallback(run_id=run_id, **fields),
        ]
    if isinstance(event, Cooldown):
        return [
            ev.ModelCooldown(
                model=event.model,
                profile=event.profile,
                reason=event.reason,
                until=event.until,
                permanent=event.permanent,
            )
        ]
    if isinstance(event, Refreshing):
        return [
            ev.RunStatus(run_id=run_id, session=session, state=ev.RunState.REFRESHING, profile=event.profile)
        ]
    return []
