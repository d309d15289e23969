"""``write_file {path, content}``: create or replace a workspace file, atomically."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from nexus.agent.tool import SideEffect, ToolContext, ToolError, ToolInput, ToolResult
from nexus.common.atomic import atomic_write_text


class WriteFileInput(ToolInput):
    path: str = Field(description="File path relative to the workspace; parent folders are created.")
    content: str = Field(description="The whole new content of the file.")


class WriteFile:
    name: ClassVar[str] = "write_file"
    description: ClassVar[str] = "Create or overwrite a text file in the workspace with the given content."
    Input: ClassVar[type[ToolInput]] = WriteFileInput
    side_effect: ClassVar[SideEffect] = SideEffect.WORKSPACE

    async def run(self, args: WriteFileInput, ctx: ToolContext) -> ToolResult:
        path = ctx.workspace.resolve(args.path)
        if path.is_dir():
            raise ToolError(f"{args.path}: is a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        # the parents just created may not be symlinks, but re-check the final real path anyway
        path = ctx.workspace.resolve(args.path)
        atomic_write_text(path, args.content, mode=0o644)
        return ToolResult(f"wrote {len(args.content.encode())} bytes to {ctx.workspace.show(path)}")
