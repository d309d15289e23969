"""A token bucket for ``chat.update``, shared by every streaming answer of one Slack workspace. Pure.

Slack limits ``chat.update`` per method per workspace (Tier 3, about 50 a minute), not per message,
so ten answers streaming at once must share one budget: each stream's own edit interval is not
enough. A stream that finds the bucket empty is told how long to wait; its next edit then carries the
newest text, so edits coalesce instead of queueing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Bucket:
    rate_per_s: float
    burst: int
    tokens: float = -1.0
    updated_at: float | None = None

    def take(self, now: float) -> float:
        """Take one token: 0.0 if granted, else the seconds until one is available (nothing taken)."""
        if self.updated_at is None or self.tokens < 0:
            self.tokens, self.updated_at = float(self.burst), now
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate_per_s)
        self.updated_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate_per_s
