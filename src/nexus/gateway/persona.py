"""The assistant's persona: ``workspace/SOUL.md`` then ``workspace/AGENTS.md`` form the system prompt.

Read again whenever a file changes (checked by mtime), so editing the persona needs no restart.
"""

from __future__ import annotations

from pathlib import Path

PERSONA_FILES = ("SOUL.md", "AGENTS.md")


class Persona:
    def __init__(self, workspace: Path) -> None:
        self._workspace = workspace
        self._stamp: tuple[tuple[str, float, int], ...] | None = None
        self._prompt: str | None = None

    def system_prompt(self) -> str | None:
        stamp = tuple(self._stat(name) for name in PERSONA_FILES)
        if stamp != self._stamp:
            self._stamp = stamp
            parts = []
            for name, mtime, _size in stamp:
                if mtime < 0:
                    continue
                try:
                    text = (self._workspace / name).read_text(encoding="utf-8", errors="replace").strip()
                except OSError:
                    continue
                if text:
                    parts.append(text)
            self._prompt = "\n\n".join(parts) or None
        return self._prompt

    def _stat(self, name: str) -> tuple[str, float, int]:
        try:
            st = (self._workspace / name).stat()
        except OSError:
            return (name, -1.0, 0)
        return (name, st.st_mtime, st.st_size)
