"""Slash commands parse purely; a typo gets the list of commands."""

from __future__ import annotations

import pytest

from nexus.tui.commands import BadCommand, Command, message_text, parse


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("hello", None),
        ("  /status ", Command("/status")),
        ("/MODELS", Command("/models")),
        ("/new", Command("/new")),
        ("/new work stuff", Command("/new", "work stuff")),
        ("/quit", Command("/quit")),
        ("//etc/hosts is a file", None),
    ],
)
def test_parse(line: str, expected: Command | None) -> None:
    assert parse(line) == expected


@pytest.mark.parametrize(
    ("line", "needle"), [("/stauts", "the commands are /status"), ("/quit now", "no argument")]
)
def test_bad_commands_say_what_works(line: str, needle: str) -> None:
    result = parse(line)
    assert isinstance(result, BadCommand) and needle in result.message


def test_double_slash_sends_a_literal_slash() -> None:
    assert message_text("//etc/hosts") == "/etc/hosts"
