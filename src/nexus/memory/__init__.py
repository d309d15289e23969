"""The assistant's memory, pure: the workspace files in the system prompt (with caps and visible cuts)
and the compaction plan of long sessions. Search over past runs lives in ``nexus.store.memory``."""

from nexus.memory.compaction import runs_to_compact, summary_request
from nexus.memory.prompt import MEMORY_FILES, Assembled, Cut, FileText, assemble, read_workspace

__all__ = [
    "MEMORY_FILES",
    "Assembled",
    "Cut",
    "FileText",
    "assemble",
    "read_workspace",
    "runs_to_compact",
    "summary_request",
]
