"""The journal as the model sees it: every tool_use answered, history results cut, answers kept."""

from __future__ import annotations

from nexus.agent.journal import ModelCalled, Outcome, ToolCall, ToolFinished, ToolStarted
from nexus.agent.transcript import NOT_RUN, run_messages
from nexus.models.types import ChatMessage, TextBlock, ToolResultBlock, ToolUseBlock

LS = ToolCall("t1", "list_dir", {"path": "."})
CAT = ToolCall("t2", "read_file", {"path": "a"})


def test_a_run_with_parallel_calls() -> None:
    journal = [
        ModelCalled("Looking.", (LS, CAT)),
        ToolStarted("t1", "list_dir", "h"),
        ToolStarted("t2", "read_file", "h"),
        ToolFinished("t2", "contents", False, Outcome.DONE),
        ToolFinished("t1", "a\nb", False, Outcome.DONE),
    ]
    assert run_messages("what is here?", journal) == [
        ChatMessage("user", "what is here?"),
        ChatMessage(
            "assistant",
            (
                TextBlock("Looking."),
                ToolUseBlock("t1", "list_dir", {"path": "."}),
                ToolUseBlock("t2", "read_file", {"path": "a"}),
            ),
        ),
        ChatMessage("user", (ToolResultBlock("t1", "a\nb"), ToolResultBlock("t2", "contents"))),
    ]


def test_history_cuts_results_closes_open_calls_and_keeps_the_answer() -> None:
    journal = [
        ModelCalled("", (LS,)),
        ToolStarted("t1", "list_dir", "h"),
        ToolFinished("t1", "x" * 5000, False, Outcome.DONE),
        ModelCalled("", (CAT,)),  # stopped by a limit before this call ran
    ]
    messages = run_messages("go", journal, result_chars=200, answer="stopped after 2 model calls")
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant", "user", "assistant"]
    cut = messages[2].blocks[0]
    assert isinstance(cut, ToolResultBlock) and len(cut.content) < 300 and "characters cut" in cut.content
    assert messages[4].blocks == (ToolResultBlock("t2", NOT_RUN, is_error=True),)
    assert messages[5] == ChatMessage("assistant", "stopped after 2 model calls")


def test_a_plain_answer_is_not_repeated_and_old_runs_without_steps_still_read() -> None:
    journal = [ModelCalled("hello")]
    assert run_messages("hi", journal, answer="hello") == [
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "hello"),
    ]
    assert run_messages("hi", [], answer="from before tools") == [
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "from before tools"),
    ]
