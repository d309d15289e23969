"""``edit_file {path, old, new}``: replace one exact, unique occurrence of ``old`` with ``new``.

Unique, because an edit the model cannot aim is worse than an error: zero or several matches are
refused with the count, so the model adds context and tries again.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from nexus.agent.tool import SideEffect, ToolContext, ToolError, ToolInput, ToolResult
from nexus.common.atomic import atomic_write_text


class EditFileInput(ToolInput):
    path: str = Field(description="File path relative to the workspace.")
    old: str = Field(min_length=1, description="Exact text to replace; must occur exactly once.")
    new: str = Field(description="Replacement text.")


class EditFile:
    name: ClassVar[str] = "edit_file"
    description: ClassVar[str] = (
        "Replace the one exact occurrence of `old` with `new` in a workspace file. "
        "Fails when `old` occurs zero or several times: include more surrounding text."
    )
    Input: ClassVar[type[ToolInput]] = EditFileInput
    side_effect: ClassVar[SideEffect] = SideEffect.WORKSPACE

    async def run(self, args: EditFileInput, ctx: ToolContext) -> ToolResult:
        path = ctx.workspace.resolve(args.path)
        if not path.is_file():
            raise ToolError(f"{args.path}: no such file")
        text = path.read_bytes().decode("utf-8", "replace")
        count = text.count(args.old)
        if count == 0:
            raise ToolError(f"{args.path}: `old` was not found; read the file and copy the text exactly")
        if count > 1:
            raise ToolError(
                f"{args.path}: `old` occurs {count} times; include more context to make it unique"
            )
        mode = path.stat().st_mode & 0o777
        atomic_write_text(path, text.replace(args.old, args.new, 1), mode=mode)
        return ToolResult(f"edited {ctx.workspace.show(path)}: 1 replacement")
