"""The workspace memory files in the system prompt: fixed order, a cap per file and in total, and a
visible note when anything was cut (pure, apart from :func:`read_workspace`).

Order: ``AGENTS.md`` (rules) first, then ``SOUL.md`` (persona), ``USER.md`` (about the user),
``MEMORY.md`` (curated facts). The total cap is spent in that order, so the rules are the last thing
to lose room. A cut keeps the head of the file up to a line boundary and says so in the prompt
itself ("cut: 20,000 of 53,210 characters") so the model knows to read the file with its tools, and
``nexus doctor`` warns the operator with the same numbers. Nothing is ever dropped silently.

Reading is bounded too: a 100 MB MEMORY.md is read only as far as the cap needs (``read_workspace``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MEMORY_FILES: tuple[tuple[str, str], ...] = (
    ("AGENTS.md", "rules"),
    ("SOUL.md", "persona"),
    ("USER.md", "about the user"),
    ("MEMORY.md", "curated facts"),
)
DEFAULT_FILE_CHARS = 20_000
DEFAULT_TOTAL_CHARS = 60_000


@dataclass(frozen=True)
class FileText:
    """A memory file as read: ``text`` (maybe only a head) and its full length in characters, or
    ``None`` for ``length`` when the file was too big to read whole (``size_bytes`` then)."""

    text: str
    length: int | None
    size_bytes: int = 0

    @property
    def size_text(self) -> str:
        return f"{self.length:,} characters" if self.length is not None else f"{self.size_bytes:,} bytes"


@dataclass(frozen=True)
class Cut:
    name: str
    kept: int
    size_text: str
    reason: str
    """``per-file cap`` or ``total cap``."""

    def describe(self) -> str:
        return f"{self.name}: {self.kept:,} characters kept of {self.size_text} ({self.reason})"


@dataclass(frozen=True)
class Assembled:
    prompt: str | None
    cuts: tuple[Cut, ...]
    included: tuple[str, ...]


def _head(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending at a line break when one is in the last fifth."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    newline = head.rfind("\n")
    return head[:newline] if newline >= limit * 4 // 5 else head


def assemble(
    files: Mapping[str, FileText | None],
    *,
    file_chars: int = DEFAULT_FILE_CHARS,
    total_chars: int = DEFAULT_TOTAL_CHARS,
) -> Assembled:
    sections: list[str] = []
    cuts: list[Cut] = []
    included: list[str] = []
    left = total_chars
    for name, role in MEMORY_FILES:
        found = files.get(name)
        if found is None or not found.text.strip():
            continue
        text = found.text.strip()
        limit = min(file_chars, left)
        if limit <= 0:
            cuts.append(Cut(name, 0, found.size_text, "total cap"))
            continue
        kept = _head(text, limit)
        if len(kept) < len(text) or found.length is None:
            reason = "per-file cap" if file_chars <= left else "total cap"
            cuts.append(Cut(name, len(kept), found.size_text, reason))
            left -= len(kept)
            kept += (
                f"\n\n[{name} cut: {len(kept):,} characters shown of {found.size_text} ({reason}); "
                f"read workspace/{name} with the file tools for the rest]"
            )
        else:
            left -= len(kept)
        sections.append(f"## {name} ({role})\n\n{kept}")
        included.append(name)
    if cuts:
        sections.append(
            "[Note: some workspace memory did not fit the prompt: "
            + "; ".join(c.describe() for c in cuts)
            + ". Ask the user to trim these files, or read them with the file tools.]"
        )
    prompt = "\n\n".join(sections) or None
    return Assembled(prompt, tuple(cuts), tuple(included))


def read_workspace(workspace: Path, *, file_chars: int = DEFAULT_FILE_CHARS) -> dict[str, FileText | None]:
    """Each memory file, read only as far as the caps can use (four bytes a character at most)."""
    out: dict[str, FileText | None] = {}
    budget = file_chars * 4 + 4
    for name, _role in MEMORY_FILES:
        path = workspace / name
        try:
            with path.open("rb") as handle:
                raw = handle.read(budget + 1)
        except OSError:
            out[name] = None
            continue
        text = raw[:budget].decode("utf-8", errors="replace")
        if len(raw) > budget:
            try:
                size = path.stat().st_size
            except OSError:
                size = len(raw)
            out[name] = FileText(text, None, size_bytes=size)
        else:
            out[name] = FileText(text, len(text.strip()))
    return out
