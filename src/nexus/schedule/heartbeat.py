"""The heartbeat turn, pure: the prompt built from ``workspace/HEARTBEAT.md`` and the sentinel.

A heartbeat costs nothing when there is nothing to check: a missing or empty (whitespace or only
Markdown headings/comments) file skips the fire without a model call. The model answers
``HEARTBEAT_OK`` when nothing needs the user; that answer is kept in the journal but not delivered.
The checklist is capped (``MAX_CHECKLIST_CHARS``) so a grown file cannot cost a fortune per beat.
"""

from __future__ import annotations

import re

HEARTBEAT_OK = "HEARTBEAT_OK"
HEARTBEAT_FILE = "HEARTBEAT.md"
MAX_CHECKLIST_CHARS = 4000
_NOISE = re.compile(r"^\s*(#.*|<!--.*?-->|[-*]\s*)?\s*$")


def checklist(text: str | None) -> str | None:
    """The file's content worth a model call, or None to skip the beat."""
    if text is None:
        return None
    if all(_NOISE.match(line) for line in text.splitlines()):
        return None
    return text.strip()


def heartbeat_prompt(content: str, *, every: str) -> str:
    body = content
    note = ""
    if len(body) > MAX_CHECKLIST_CHARS:
        body = body[:MAX_CHECKLIST_CHARS]
        note = f"\n[HEARTBEAT.md cut: first {MAX_CHECKLIST_CHARS} of {len(content)} characters shown]"
    return (
        f"Heartbeat (every {every}). Go through the checklist from HEARTBEAT.md below. If something needs "
        f"the user's attention, write the message to send them. If nothing does, answer exactly "
        f"{HEARTBEAT_OK} and nothing else.\n\n---\n{body}{note}"
    )


def has_something_to_say(answer: str | None) -> bool:
    """False for an empty answer or one that is only the sentinel (markup and punctuation around it
    allowed: ``**HEARTBEAT_OK**``, ``HEARTBEAT_OK.``)."""
    if answer is None:
        return False
    stripped = answer.strip().strip("*_`.!\"' \n\t")
    return bool(stripped) and stripped != HEARTBEAT_OK
