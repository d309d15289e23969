"""``list_dir {path}``: the entries of a workspace folder, folders marked with a trailing slash."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from nexus.agent.tool import SideEffect, ToolContext, ToolError, ToolInput, ToolResult

MAX_ENTRIES = 1000


class ListDirInput(ToolInput):
    path: str = Field(default=".", description="Folder path relative to the workspace ('.' is its root).")


class ListDir:
    name: ClassVar[str] = "list_dir"
    description: ClassVar[str] = "List a folder in the workspace: names, folders end with '/', file sizes."
    Input: ClassVar[type[ToolInput]] = ListDirInput
    side_effect: ClassVar[SideEffect] = SideEffect.NONE

    async def run(self, args: ListDirInput, ctx: ToolContext) -> ToolResult:
        path = ctx.workspace.resolve(args.path)
        if not path.is_dir():
            raise ToolError(f"{args.path}: not a folder")
        entries = sorted(path.iterdir(), key=lambda p: p.name)
        lines = []
        for entry in entries[:MAX_ENTRIES]:
            if entry.is_symlink():
                lines.append(f"{entry.name} -> (link)")
            elif entry.is_dir():
                lines.append(f"{entry.name}/")
            else:
                lines.append(f"{entry.name}  {entry.stat().st_size} B")
        if len(entries) > MAX_ENTRIES:
            lines.append(f"[... {len(entries) - MAX_ENTRIES} more entries]")
        return ToolResult("\n".join(lines) if lines else f"({ctx.workspace.show(path)} is empty)")
