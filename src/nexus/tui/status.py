"""The status line, as a pure function of the chat state and the time.

It must always be true: it says what the client waits for, in the gateway's own terms (queued behind
N, calling MODEL, rate-limited on MODEL -> trying NEXT, refreshing credentials, every candidate cooling
until T), how long the run has taken, and what the link is doing. Plain mode prints the same lines, so
scripts and people read one vocabulary. No Textual import here: it is tested by tables.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from nexus.client.state import ChatState, Link, Phase, RunView, reason_phrase


def clock_time(epoch: float) -> str:
    """Local wall-clock time for "cooling until" (the default of ``status_line``'s ``fmt_time``)."""
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def link_text(state: ChatState) -> str:
    if state.link is Link.CONNECTING:
        return "connecting to the gateway…"
    if state.link is Link.CONNECTED:
        return "connected"
    if state.link is Link.RECONNECTING:
        return f"gateway restarting — reconnecting (attempt {state.attempt})"
    if state.link is Link.NOT_RUNNING:
        detail = state.link_detail or "the gateway is not running: start it with `nexus up`"
        return f"{detail} (retrying, attempt {state.attempt})" if state.attempt > 1 else detail
    return state.link_detail or "cannot talk to the gateway"


def run_text(run: RunView, now: float, *, fmt_time: Callable[[float], str] = clock_time) -> str:
    """What one run is doing or how it ended."""
    if run.phase is Phase.DONE:
        took = f" in {run.finished_after:.1f}s" if run.finished_after is not None else ""
        via = f" by {run.model}" if run.model else ""
        return f"answered{via}{took}"
    if run.phase is Phase.FAILED:
        return "failed: " + failure_summary(run, fmt_time=fmt_time)
    if run.phase is Phase.ABANDONED:
        return f"gave up: {run.error}"
    elapsed = f" · {max(now - run.started, 0.0):.0f}s"
    if run.checked:
        return f"no event for a while; {run.checked}{elapsed}"
    return waiting_for(run) + elapsed


def waiting_for(run: RunView) -> str:
    if run.phase is Phase.SENDING:
        return "sending…"
    if run.phase is Phase.QUEUED:
        if run.ahead > 0:
            return f"queued behind {run.ahead} message{'s' if run.ahead != 1 else ''}"
        return "queued"
    if run.fallback and run.phase in (Phase.RUNNING, Phase.CALLING):
        return run.fallback
    if run.phase is Phase.CALLING:
        return f"calling {run.model}" + (f" ({run.profile})" if run.profile else "")
    if run.phase is Phase.REFRESHING:
        return f"refreshing credentials for {run.profile}"
    if run.phase is Phase.STREAMING:
        return f"answering with {run.model}" if run.model else "answering"
    if run.phase is Phase.TOOL:
        return f"running {run.tool}"
    if run.phase is Phase.APPROVAL:
        return f"waiting for your approval {run.approval}"
    return "starting"


AUTH_KINDS = frozenset({"auth", "auth_permanent"})


def failure_summary(run: RunView, *, fmt_time: Callable[[float], str] = clock_time) -> str:
    """One line for the status bar; the run's full error (one line per attempt) goes in the chat.

    Auth first (only the owner can fix it, so the line names the command), then "every candidate
    cooling until T" with each candidate's reason, else the gateway's own first line.
    """
    lines = [line.strip() for line in (run.error or "failed").splitlines() if line.strip()]
    fixes = [line for line in lines if "`nexus " in line]
    auth = [a for a in run.attempts if a.kind in AUTH_KINDS]
    if auth:
        first = next((a for a in auth if not a.outcome.startswith("skipped")), auth[0])
        why = f" ({first.status}: {first.detail})" if first.status and first.detail else ""
        return f"auth failed for {first.profile or first.model}{why} — fix: {fixes[0] if fixes else auth_fix(first.model)}"
    if run.soonest_retry is not None:
        reasons = [f"{a.model}: {reason_phrase(a.kind)}" for a in run.attempts] or lines
        return f"every candidate cooling until {fmt_time(run.soonest_retry)} ({'; '.join(reasons)})"
    return (fixes or lines or ["failed"])[0]


def auth_fix(model: str) -> str:
    """The commands that replace a refused credential, for the model's provider."""
    provider = model.split("/", 1)[0] or "anthropic"
    return (
        f"`nexus auth list` shows the profile; replace it with `nexus auth add-key {provider}` "
        f"(API key) or `nexus auth login {provider}` (subscription)"
    )


def cooling_text(state: ChatState, wall_now: float, *, fmt_time: Callable[[float], str] = clock_time) -> str:
    """Candidates still cooling down, with their reasons (shown when nothing else is going on)."""
    live = [c for c in state.cooldowns if c.until > wall_now]
    if not live:
        return ""
    parts = [f"{c.model}: {reason_phrase(c.reason)} until {fmt_time(c.until)}" for c in live]
    return "cooling — " + "; ".join(parts)


def status_line(
    state: ChatState,
    now: float,
    wall_now: float,
    *,
    fmt_time: Callable[[float], str] = clock_time,
) -> str:
    """The whole line: link · session · the current run (or cooldowns/alerts when idle)."""
    parts = [link_text(state), f"session {state.session}"]
    run = state.current
    if run is not None and (not run.finished or state.link is Link.CONNECTED):
        parts.append(run_text(run, now, fmt_time=fmt_time))
    if run is None or run.finished:
        cooling = cooling_text(state, wall_now, fmt_time=fmt_time)
        if cooling:
            parts.append(cooling)
    if state.alert:
        parts.append(f"alert: {state.alert}")
    return " · ".join(parts)
