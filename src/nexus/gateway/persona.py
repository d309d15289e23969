"""The system prompt from the workspace memory files (``AGENTS.md``, ``SOUL.md``, ``USER.md``,
``MEMORY.md``), assembled with caps by :func:`nexus.memory.assemble`.

Read again only when a file changes (checked by mtime and size), so editing memory needs no restart,
and an unchanged workspace gives a byte-identical prompt turn after turn (a stable prefix for the
providers' prompt caching).
"""

from __future__ import annotations

import logging
from pathlib import Path

from nexus.memory import MEMORY_FILES, Cut, assemble, read_workspace
from nexus.memory.prompt import DEFAULT_FILE_CHARS, DEFAULT_TOTAL_CHARS

log = logging.getLogger(__name__)

PERSONA_FILES = tuple(name for name, _role in MEMORY_FILES)


class Persona:
    def __init__(
        self,
        workspace: Path,
        *,
        file_chars: int = DEFAULT_FILE_CHARS,
        total_chars: int = DEFAULT_TOTAL_CHARS,
    ) -> None:
        self._workspace = workspace
        self._file_chars = file_chars
        self._total_chars = total_chars
        self._stamp: tuple[tuple[str, float, int], ...] | None = None
        self._prompt: str | None = None
        self.cuts: tuple[Cut, ...] = ()

    def system_prompt(self) -> str | None:
        stamp = tuple(self._stat(name) for name in PERSONA_FILES)
        if stamp != self._stamp:
            self._stamp = stamp
            assembled = assemble(
                read_workspace(self._workspace, file_chars=self._file_chars),
                file_chars=self._file_chars,
                total_chars=self._total_chars,
            )
            self._prompt = assembled.prompt
            if assembled.cuts and assembled.cuts != self.cuts:
                log.warning(
                    "workspace memory cut to fit the prompt: %s (see `nexus doctor`)",
                    "; ".join(c.describe() for c in assembled.cuts),
                )
            self.cuts = assembled.cuts
        return self._prompt

    def _stat(self, name: str) -> tuple[str, float, int]:
        try:
            st = (self._workspace / name).stat()
        except OSError:
            return (name, -1.0, 0)
        return (name, st.st_mtime, st.st_size)
