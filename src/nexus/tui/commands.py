"""Slash commands typed in the chat input, parsed purely (the screen performs them)."""

from __future__ import annotations

from dataclasses import dataclass

COMMANDS = {
    "/status": "show the gateway's status",
    "/models": "show the model chain and which candidates are usable",
    "/new": "start a new session (optionally /new NAME)",
    "/quit": "leave (the gateway keeps running and keeps every run)",
    "/help": "list the commands",
}


@dataclass(frozen=True)
class Command:
    name: str
    arg: str = ""


@dataclass(frozen=True)
class BadCommand:
    message: str


def parse(line: str) -> Command | BadCommand | None:
    """None for a normal message; ``//text`` sends ``/text`` literally."""
    text = line.strip()
    if not text.startswith("/") or text.startswith("//"):
        return None
    name, _, arg = text.partition(" ")
    name = name.lower()
    if name not in COMMANDS:
        known = ", ".join(COMMANDS)
        return BadCommand(f"unknown command {name}: the commands are {known} (start with // to send a slash)")
    if name != "/new" and arg.strip():
        return BadCommand(f"{name} takes no argument")
    if name == "/new" and len(arg.strip()) > 200:
        return BadCommand("/new NAME: the session name must be at most 200 characters")
    return Command(name=name, arg=arg.strip())


def message_text(line: str) -> str:
    """The text to send for a non-command line (``//x`` becomes ``/x``)."""
    text = line.strip()
    return text[1:] if text.startswith("//") else text


def help_text() -> str:
    return (
        "\n".join(f"{name:<8} {what}" for name, what in COMMANDS.items())
        + "\nEsc      abort the current answer"
    )
