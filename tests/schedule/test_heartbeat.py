from __future__ import annotations

import pytest

from nexus.schedule.heartbeat import (
    HEARTBEAT_OK,
    MAX_CHECKLIST_CHARS,
    checklist,
    has_something_to_say,
    heartbeat_prompt,
)


@pytest.mark.parametrize(
    ("text", "skipped"),
    [
        (None, True),
        ("", True),
        ("  \n\n", True),
        ("# Heartbeat\n\n- \n<!-- todo -->\n", True),
        ("- check the oven timer", False),
        ("# Daily\n- water the plants", False),
    ],
)
def test_missing_empty_or_heading_only_files_skip_the_beat(text: str | None, skipped: bool) -> None:
    assert (checklist(text) is None) is skipped


@pytest.mark.parametrize(
    ("answer", "deliver"),
    [
        (HEARTBEAT_OK, False),
        ("  HEARTBEAT_OK\n", False),
        ("**HEARTBEAT_OK**", False),
        ("HEARTBEAT_OK.", False),
        ("", False),
        (None, False),
        ("Your 3 pm meeting moved to 4 pm.", True),
        ("HEARTBEAT_OK but the backup failed", True),
    ],
)
def test_only_an_answer_with_something_to_say_is_delivered(answer: str | None, deliver: bool) -> None:
    assert has_something_to_say(answer) is deliver


def test_the_prompt_names_the_sentinel_and_caps_the_checklist() -> None:
    prompt = heartbeat_prompt("x" * (MAX_CHECKLIST_CHARS + 500), every="30m")
    assert HEARTBEAT_OK in prompt and "every 30m" in prompt
    assert "x" * (MAX_CHECKLIST_CHARS + 1) not in prompt
    assert f"first {MAX_CHECKLIST_CHARS} of {MAX_CHECKLIST_CHARS + 500}" in prompt
