"""What a chat client knows, as immutable values and pure transitions.

The gateway's events (docs/protocol.md), its run snapshots (``chat.send``, ``run.get``,
``chat.history``) and the link's ups and downs all fold into one :class:`ChatState`. A UI renders the
state; it never keeps its own idea of "what is happening", so the status line cannot drift from the
truth. Every function here is pure and takes ``now`` (monotonic seconds) from its caller.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from nexus.protocol import events as ev


class Link(StrEnum):
    """The connection to the gateway, as the user should understand it."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    """It was up and went away: the gateway restarts or crashed; runs are durable, answers will come."""
    NOT_RUNNING = "not_running"
    """Nothing has answered yet: the gateway is not started."""
    FAILED = "failed"
    """Unauthorized or protocol mismatch: retrying cannot help; ``link_detail`` says what will."""


class Phase(StrEnum):
    """Where one message is in its life, from the client's point of view."""

    SENDING = "sending"
    QUEUED = "queued"
    RUNNING = "running"
    CALLING = "calling"
    REFRESHING = "refreshing"
    STREAMING = "streaming"
    TOOL = "tool"
    """A tool call of the run is running (``tool`` says which)."""
    APPROVAL = "approval"
    """A tool call waits for the owner's yes or no (``approval`` says which)."""
    DONE = "done"
    FAILED = "failed"
    ABANDONED = "abandoned"
    """The client stopped waiting (run deadline); the run itself stays retrievable in the gateway."""


FINISHED = frozenset({Phase.DONE, Phase.FAILED, Phase.ABANDONED})


Attempt = ev.AttemptInfo
"""One candidate tried (or skipped) for a failed run, as ``run.error`` reports it."""


@dataclass(frozen=True)
class RunView:
    key: str
    """The client's idempotency key, known before the gateway assigns ``run_id``."""
    message: str
    started: float
    last_event: float
    run_id: str | None = None
    phase: Phase = Phase.SENDING
    ahead: int = 0
    model: str | None = None
    profile: str | None = None
    text: str = ""
    notes: tuple[str, ...] = ()
    """What happened on the way (fallbacks, resumption), oldest first."""
    fallback: str | None = None
    """The latest fallback, shown while the next candidate is being called."""
    error: str | None = None
    soonest_retry: float | None = None
    attempts: tuple[Attempt, ...] = ()
    tool: str | None = None
    """The tool call in progress: ``exec: git status``."""
    approval: str | None = None
    """The approval it waits for: its id and what it would run."""
    checked: str | None = None
    """What ``run.get`` said after a silence, shown until the next event."""
    checked_at: float | None = None
    finished_after: float | None = None

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED


@dataclass(frozen=True)
class Cooling:
    model: str
    profile: str | None
    reason: str
    until: float
    """Wall-clock epoch seconds."""


@dataclass(frozen=True)
class ChatState:
    session: str
    link: Link = Link.CONNECTING
    attempt: int = 0
    link_detail: str = ""
    runs: tuple[RunView, ...] = ()
    cooldowns: tuple[Cooling, ...] = ()
    alert: str | None = None

    def run(self, key: str) -> RunView | None:
        return next((r for r in self.runs if r.key == key), None)

    def by_run_id(self, run_id: str) -> RunView | None:
        return next((r for r in self.runs if r.run_id == run_id), None)

    @property
    def current(self) -> RunView | None:
        """The oldest unfinished run, else the latest run: what the status line talks about."""
        pending = [r for r in self.runs if not r.finished]
        if pending:
            return pending[0]
        return self.runs[-1] if self.runs else None

    @property
    def pending(self) -> tuple[RunView, ...]:
        return tuple(r for r in self.runs if not r.finished)


# -- transitions ------------------------------------------------------------------------------------


def set_link(state: ChatState, link: Link, *, attempt: int = 0, detail: str = "") -> ChatState:
    return replace(state, link=link, attempt=attempt, link_detail=detail)


def sending(state: ChatState, key: str, message: str, now: float) -> ChatState:
    """The user pressed Enter: the message exists before the gateway has acknowledged it."""
    view = RunView(key=key, message=message, started=now, last_event=now)
    return replace(state, runs=(*state.runs, view))


def accepted(state: ChatState, key: str, payload: dict[str, Any], now: float) -> ChatState:
    """``chat.send`` answered: bind the key to its run (which a ``run.accepted`` event may have shown)."""
    run_id = str(payload.get("run_id"))
    mine = state.run(key)
    if mine is None:
        return state
    early = state.by_run_id(run_id)
    if early is not None and early.key != key:
        merged = replace(early, key=key, message=mine.message, started=mine.started)
        runs = tuple(merged if r.key == key else r for r in state.runs if r.key != early.key)
        return replace(state, runs=runs)
    view = replace(mine, run_id=run_id, last_event=now, ahead=int(payload.get("ahead") or 0))
    run = payload.get("run")
    view = _from_snapshot(view, run) if isinstance(run, dict) else replace(view, phase=Phase.QUEUED)
    return _put(state, view)


def abandoned(state: ChatState, key: str, why: str, now: float) -> ChatState:
    view = state.run(key)
    if view is None or view.finished:
        return state
    return _put(state, replace(view, phase=Phase.ABANDONED, error=why, finished_after=now - view.started))


def refused(state: ChatState, key: str, why: str, now: float) -> ChatState:
    """The gateway refused the message or no longer knows the run: it failed, and says why."""
    view = state.run(key)
    if view is None or view.finished:
        return state
    return _put(state, replace(view, phase=Phase.FAILED, error=why, finished_after=now - view.started))


def history(state: ChatState, runs: list[dict[str, Any]], now: float) -> ChatState:
    """The session's earlier runs, shown when the chat opens (and merged on reconnect)."""
    known = {r.run_id for r in state.runs}
    loaded = []
    for run in runs:
        run_id = str(run.get("run_id"))
        if run_id in known:
            continue
        view = RunView(key=run_id, message=str(run.get("message") or ""), started=now, last_event=now)
        loaded.append(_from_snapshot(replace(view, run_id=run_id), run))
    return replace(state, runs=(*loaded, *state.runs))


def snapshot(
    state: ChatState, run: dict[str, Any], now: float, *, resync: bool = False, check: bool = False
) -> ChatState:
    """A run as ``run.get`` returned it.

    ``resync``: after a reconnect or an event gap, streamed text may be incomplete and an unfinished
    run restarts its answer in a restarted gateway, so partial text is dropped. ``check``: the client
    asked after a silence; what the gateway said is kept for the status line.
    """
    view = state.by_run_id(str(run.get("run_id")))
    if view is None or view.finished:
        return state
    updated = _from_snapshot(view, run)
    if resync and not updated.finished:
        updated = replace(updated, text="", phase=_phase_of(run, view.phase, keep_detail=False))
    if check and not updated.finished:
        updated = replace(updated, checked=describe_snapshot(run), checked_at=now)
    return _put(state, updated)


def event(state: ChatState, incoming: ev.Event, now: float) -> ChatState:
    """Fold one gateway event into the state (events that are not about runs or alerts change nothing)."""
    if isinstance(incoming, ev.ModelCooldown):
        return _cooldown(state, incoming)
    if isinstance(incoming, ev.OwnerAlert):
        return replace(state, alert=incoming.line)
    if isinstance(incoming, ev.AuthNeedsReauth | ev.AuthExpiring):
        return replace(state, alert=incoming.message)
    if isinstance(incoming, ev.ApprovalRequested | ev.ApprovalResolved):
        return _approval(state, incoming, now)
    if not isinstance(
        incoming, ev.RunAccepted | ev.RunStatus | ev.RunDelta | ev.RunFallback | ev.RunEnded | ev.RunTool
    ):
        return state
    view = state.by_run_id(incoming.run_id)
    if view is None:
        if not isinstance(incoming, ev.RunAccepted):
            return state
        # another client of this session sent it: show it too
        view = RunView(key=incoming.run_id, message=incoming.message, started=now, last_event=now)
        view = replace(view, run_id=incoming.run_id, phase=Phase.QUEUED)
        state = replace(state, runs=(*state.runs, view))
    if view.finished:
        return state
    view = replace(view, last_event=now, checked=None, checked_at=None)
    if isinstance(incoming, ev.RunAccepted):
        view = replace(view, phase=Phase.QUEUED, ahead=incoming.ahead)
    elif isinstance(incoming, ev.RunStatus):
        view = _status(view, incoming)
    elif isinstance(incoming, ev.RunDelta):
        view = replace(view, phase=Phase.STREAMING, text=view.text + incoming.text, tool=None)
    elif isinstance(incoming, ev.RunTool):
        view = _tool(view, incoming)
    elif isinstance(incoming, ev.RunFallback):
        line = fallback_line(incoming)
        view = replace(
            view,
            notes=(*view.notes, line),
            fallback=line,
            model=incoming.to_model or view.model,
            text="" if incoming.after_tokens else view.text,
        )
    else:
        view = _from_snapshot(view, incoming.payload())
        view = replace(view, finished_after=now - view.started)
    return _put(state, view)


# -- helpers ----------------------------------------------------------------------------------------

REASON_PHRASES = {
    "rate_limit": "rate-limited",
    "overloaded": "overloaded",
    "auth": "auth failed",
    "auth_permanent": "auth failed",
    "billing": "billing problem",
    "permission": "no permission",
    "model_not_found": "model not found",
    "context_overflow": "conversation too long",
    "timeout": "timed out",
    "connection": "unreachable",
    "server": "server error",
}


def reason_phrase(reason: str) -> str:
    """``rate_limit: retry in 1s`` -> ``rate-limited (retry in 1s)``; unknown reasons pass through."""
    head, sep, rest = reason.partition(":")
    phrase = REASON_PHRASES.get(head.strip())
    if phrase is None:
        return reason
    return f"{phrase} ({rest.strip()})" if sep and rest.strip() else phrase


def fallback_line(fallback: ev.RunFallback) -> str:
    reason = reason_phrase(fallback.reason or "failed")
    line = f"{reason} on {fallback.from_model} -> trying {fallback.to_model}"
    return line + " (partial answer discarded)" if fallback.after_tokens else line


def describe_snapshot(run: dict[str, Any]) -> str:
    """One line about a run as the gateway reports it (after a silence)."""
    status = run.get("status")
    if status == "queued":
        ahead = int(run.get("ahead") or 0)
        return f"gateway says: queued behind {ahead} message{'s' if ahead != 1 else ''}"
    if status == "running":
        who = "a worker is answering it" if run.get("active") else "no worker holds it yet"
        return f"gateway says: running, {who}"
    return f"gateway says: {status}"


def _tool(view: RunView, step: ev.RunTool) -> RunView:
    line = f"{step.tool}: {step.summary}" if step.summary else step.tool
    if step.state in ("started", "waiting_approval"):
        return replace(view, phase=Phase.TOOL, tool=line)
    # ended: what the model said before the call stays; the next model call streams after it
    return replace(
        view, phase=Phase.RUNNING, tool=None, approval=None, notes=(*view.notes, f"{line} ({step.state})")
    )


def _approval(
    state: ChatState, incoming: ev.ApprovalRequested | ev.ApprovalResolved, now: float
) -> ChatState:
    view = state.by_run_id(incoming.run_id)
    if view is None or view.finished:
        return state
    if isinstance(incoming, ev.ApprovalRequested):
        line = f"{incoming.approval_id}: {incoming.summary} — `nexus approve {incoming.approval_id}` or deny"
        return _put(state, replace(view, phase=Phase.APPROVAL, approval=line, last_event=now))
    return _put(state, replace(view, phase=Phase.RUNNING, approval=None, last_event=now))


def _status(view: RunView, status: ev.RunStatus) -> RunView:
    if status.state is ev.RunState.CALLING:
        return replace(view, phase=Phase.CALLING, model=status.model or view.model, profile=status.profile)
    if status.state is ev.RunState.REFRESHING:
        return replace(view, phase=Phase.REFRESHING, profile=status.profile or view.profile)
    attempt = status.attempt or 1
    note = (f"resumed by the gateway (attempt {attempt})",) if attempt > 1 else ()
    # a resumed run starts its answer again: what was streamed before is gone
    return replace(view, phase=Phase.RUNNING, text="", fallback=None, notes=(*view.notes, *note))


def _phase_of(run: dict[str, Any], current: Phase, *, keep_detail: bool = True) -> Phase:
    status = run.get("status")
    if status == "done":
        return Phase.DONE
    if status == "failed":
        return Phase.FAILED
    if status == "queued":
        return Phase.QUEUED
    if status == "running":
        detailed = current in (Phase.CALLING, Phase.REFRESHING, Phase.STREAMING)
        return current if keep_detail and detailed else Phase.RUNNING
    return current


def _from_snapshot(view: RunView, run: dict[str, Any]) -> RunView:
    phase = _phase_of(run, view.phase)
    updated = replace(view, phase=phase, run_id=str(run.get("run_id") or view.run_id))
    if "ahead" in run and phase is Phase.QUEUED:
        updated = replace(updated, ahead=int(run.get("ahead") or 0))
    if phase is Phase.DONE:
        updated = replace(
            updated, text=str(run.get("text") or ""), model=run.get("model") or updated.model, fallback=None
        )
    elif phase is Phase.FAILED:
        retry = run.get("soonest_retry")
        updated = replace(
            updated,
            error=str(run.get("error") or "failed"),
            soonest_retry=float(retry) if isinstance(retry, int | float) else None,
            attempts=_attempts(run.get("attempts")) or updated.attempts,
            fallback=None,
        )
    return updated


def _attempts(raw: Any) -> tuple[Attempt, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(Attempt.from_wire(a) for a in raw if isinstance(a, dict))


def _cooldown(state: ChatState, cooldown: ev.ModelCooldown) -> ChatState:
    cooling = Cooling(
        model=cooldown.model or "?",
        profile=cooldown.profile or None,
        reason=cooldown.reason or "cooling",
        until=cooldown.until,
    )
    others = tuple(c for c in state.cooldowns if (c.model, c.profile) != (cooling.model, cooling.profile))
    return replace(state, cooldowns=(*others, cooling))


def _put(state: ChatState, view: RunView) -> ChatState:
    return replace(state, runs=tuple(view if r.key == view.key else r for r in state.runs))
