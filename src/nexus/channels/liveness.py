"""Transport liveness and long-poll stall deadlines. Pure; tested by a table.

A long poll asks the platform to hold the request up to ``poll_timeout_s``; an answer that has not
come ``grace_s`` after that is a stall (a half-open TCP connection, a proxy that swallowed it), not a
quiet chat. The connection is then rebuilt instead of waiting forever while reporting "connected".
"""

from __future__ import annotations


def poll_deadline_s(poll_timeout_s: float, grace_s: float) -> float:
    """How long one long poll may take before it counts as stalled."""
    return poll_timeout_s + grace_s


def transport_alive(*, now: float, last_ok_at: float | None, poll_timeout_s: float, grace_s: float) -> bool:
    """The platform answered recently enough: within one poll deadline of now."""
    if last_ok_at is None:
        return False
    return now - last_ok_at <= poll_deadline_s(poll_timeout_s, grace_s)
