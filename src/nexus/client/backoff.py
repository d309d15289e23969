"""Reconnect backoff as a pure function: exponential, capped, with injectable jitter.

The first retry is quick (a gateway restarted by its supervisor is back within a second or two); a
gateway that stays down is probed at most every ``maximum`` seconds, so the status line keeps counting
attempts without hammering the port.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    initial: float = 0.2
    factor: float = 2.0
    maximum: float = 5.0
    jitter: float = 0.1
    """Fraction of the delay added at random, so many clients do not reconnect in lockstep."""

    def delay(self, attempt: int, *, rand: Callable[[], float] = lambda: 0.0) -> float:
        """Seconds to wait before reconnect ``attempt`` (1 = the first retry); ``rand`` gives [0, 1)."""
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        base = min(self.initial * self.factor ** (attempt - 1), self.maximum)
        return base * (1.0 + self.jitter * rand())
