"""A run's journal as the conversation the model sees (pure): content blocks in the model seam's shape.

    user       the message that started the run
    assistant  text + tool_use blocks            (one committed model call)
    user       tool_result blocks, in call order  (the committed results of those calls)
    ...        repeated per model call

Every ``tool_use`` gets a ``tool_result`` in the next message, as both APIs insist: a call the run
never closed (a run that stopped at a limit or was aborted, seen later in the history) is answered
with a short "not run" result. Tool results in the history of later turns are cut to
``result_chars`` so an old 20 kB listing does not ride along with every new message.
"""

from __future__ import annotations

from collections.abc import Sequence

from nexus.agent.journal import Entry, ModelCalled, ToolFinished
from nexus.agent.tool import clip
from nexus.models.types import ChatMessage, ContentBlock, TextBlock, ToolResultBlock, ToolUseBlock

NOT_RUN = "not run: the run ended before this call"


def run_messages(
    user_text: str,
    journal: Sequence[Entry],
    *,
    result_chars: int | None = None,
    answer: str | None = None,
) -> list[ChatMessage]:
    """The messages of one run. ``answer`` (a finished run in the history) is appended as the
    assistant's last word when the journal does not already end with it (a run stopped by a limit)."""
    messages = [ChatMessage("user", user_text)]
    pending: list[str] = []
    results: dict[str, ToolFinished] = {}

    def close_step() -> None:
        if not pending:
            return
        blocks: list[ContentBlock] = []
        for call_id in pending:
            done = results.get(call_id)
            content = done.content if done is not None else NOT_RUN
            if result_chars is not None:
                content = clip(content, max(result_chars, 100))
            blocks.append(ToolResultBlock(call_id, content, is_error=done.is_error if done else True))
        messages.append(ChatMessage("user", tuple(blocks)))
        pending.clear()
        results.clear()

    last_text: str | None = None
    for entry in journal:
        if isinstance(entry, ModelCalled):
            close_step()
            if not entry.calls:
                if entry.text:  # plain text stays a plain string on the wire
                    messages.append(ChatMessage("assistant", entry.text))
            else:
                blocks: list[ContentBlock] = [TextBlock(entry.text)] if entry.text else []
                blocks.extend(ToolUseBlock(c.id, c.name, _as_object(c.input)) for c in entry.calls)
                messages.append(ChatMessage("assistant", tuple(blocks)))
            pending = [c.id for c in entry.calls]
            last_text = entry.text if not entry.calls else None
        elif isinstance(entry, ToolFinished) and entry.call_id in pending:
            results[entry.call_id] = entry
    close_step()
    if answer and last_text != answer:
        messages.append(ChatMessage("assistant", answer))
    return messages


def _as_object(value: object) -> dict[str, object]:
    return dict(value) if isinstance(value, dict) else {"value": value}
