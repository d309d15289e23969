"""When a session's history outgrows the turn's budget, fold its oldest runs into a summary (pure).

The summary replaces those runs in the prompt only: the runs stay in the journal (and in memory
search). Compaction is decided before the model call that would overflow, never after a
context-length error, and it always keeps the latest ``keep_turns`` runs verbatim.
"""

from __future__ import annotations

from collections.abc import Sequence

SUMMARY_INSTRUCTIONS = (
    "Summarise the conversation below for your own later use: the user's goals, decisions made, facts "
    "learned about the user, open tasks and promises, in at most 300 words. Write only the summary."
)


def runs_to_compact(sizes: Sequence[int], *, budget_chars: int, keep_turns: int) -> int:
    """How many of the oldest runs (``sizes`` in characters, oldest first) to fold into the summary;
    0 when the history fits. Folds just enough to fit, but never the latest ``keep_turns``."""
    total = sum(sizes)
    if total <= budget_chars:
        return 0
    foldable = max(len(sizes) - keep_turns, 0)
    folded = 0
    while folded < foldable and total > budget_chars:
        total -= sizes[folded]
        folded += 1
    return folded


def summary_request(previous: str | None, exchanges: Sequence[tuple[str, str]]) -> str:
    """The user message asking for a summary of ``exchanges`` (user text, answer) after ``previous``."""
    parts = [SUMMARY_INSTRUCTIONS, ""]
    if previous:
        parts += ["Summary of what came before:", previous, ""]
    for user, answer in exchanges:
        parts += [f"User: {user}", f"Assistant: {answer}", ""]
    return "\n".join(parts).strip()
