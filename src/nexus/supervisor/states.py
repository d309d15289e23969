"""Life cycles of the supervisor and of one child generation, as Enums with checked transitions."""

from __future__ import annotations

import enum


class InvalidTransition(RuntimeError):
    """A state change the life cycle does not allow: a bug in the loop, never user input."""


class SupervisorState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    """A generation is starting or running."""
    BACKOFF = "backoff"
    """Waiting before the next start."""
    CRASH_LOOP = "crash-loop"
    """Waiting at the backoff cap because the child keeps dying; the cause is in the status."""
    BLOCKED = "blocked"
    """The child exited 78 (config or credential): waiting for a file change or `nexus restart`."""
    STOPPING = "stopping"
    STOPPED = "stopped"


_SUPERVISOR_NEXT: dict[SupervisorState, frozenset[SupervisorState]] = {
    SupervisorState.STARTING: frozenset({SupervisorState.RUNNING, SupervisorState.STOPPING}),
    SupervisorState.RUNNING: frozenset(
        {
            SupervisorState.RUNNING,
            SupervisorState.BACKOFF,
            SupervisorState.CRASH_LOOP,
            SupervisorState.BLOCKED,
        }
        | {SupervisorState.STOPPING}
    ),
    SupervisorState.BACKOFF: frozenset({SupervisorState.RUNNING, SupervisorState.STOPPING}),
    SupervisorState.CRASH_LOOP: frozenset({SupervisorState.RUNNING, SupervisorState.STOPPING}),
    SupervisorState.BLOCKED: frozenset({SupervisorState.RUNNING, SupervisorState.STOPPING}),
    SupervisorState.STOPPING: frozenset({SupervisorState.STOPPED}),
    SupervisorState.STOPPED: frozenset(),
}


class ChildState(enum.Enum):
    NONE = "none"
    STARTING = "starting"
    """Spawned, READY=1 not seen yet."""
    READY = "ready"
    STOPPING = "stopping"
    EXITED = "exited"


_CHILD_NEXT: dict[ChildState, frozenset[ChildState]] = {
    ChildState.NONE: frozenset({ChildState.STARTING}),
    ChildState.STARTING: frozenset({ChildState.READY, ChildState.STOPPING, ChildState.EXITED}),
    ChildState.READY: frozenset({ChildState.STOPPING, ChildState.EXITED}),
    ChildState.STOPPING: frozenset({ChildState.EXITED}),
    ChildState.EXITED: frozenset({ChildState.STARTING}),
}


def check_supervisor(current: SupervisorState, new: SupervisorState) -> SupervisorState:
    if new not in _SUPERVISOR_NEXT[current]:
        raise InvalidTransition(f"supervisor cannot go from {current.value} to {new.value}")
    return new


def check_child(current: ChildState, new: ChildState) -> ChildState:
    if new not in _CHILD_NEXT[current]:
        raise InvalidTransition(f"child cannot go from {current.value} to {new.value}")
    return new
