"""``read_file {path, offset?, limit?}``: lines of a workspace file, numbered from 1."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from nexus.agent.tool import SideEffect, ToolContext, ToolError, ToolInput, ToolResult, clip


class ReadFileInput(ToolInput):
    path: str = Field(description="File path relative to the workspace.")
    offset: int | None = Field(default=None, ge=1, description="First line to return (1-based).")
    limit: int | None = Field(default=None, ge=1, description="How many lines to return.")


class ReadFile:
    name: ClassVar[str] = "read_file"
    description: ClassVar[str] = (
        "Read a text file in the workspace. Optional offset (first line, 1-based) and limit (line count)."
    )
    Input: ClassVar[type[ToolInput]] = ReadFileInput
    side_effect: ClassVar[SideEffect] = SideEffect.NONE

    async def run(self, args: ReadFileInput, ctx: ToolContext) -> ToolResult:
        path = ctx.workspace.resolve(args.path)
        if not path.exists():
            raise ToolError(f"{args.path}: no such file")
        if path.is_dir():
            raise ToolError(f"{args.path}: is a directory; use list_dir")
        size = path.stat().st_size
        cap = ctx.settings.read_max_bytes
        if size > cap and args.offset is None and args.limit is None:
            raise ToolError(
                f"{args.path}: {size} bytes is more than the {cap}-byte read cap; pass offset and limit"
            )
        with path.open("rb") as f:
            data = f.read(cap)
        lines = data.decode("utf-8", "replace").splitlines()
        start = (args.offset or 1) - 1
        end = start + args.limit if args.limit else len(lines)
        chosen = lines[start:end]
        if not chosen:
            return ToolResult(f"({args.path} has {len(lines)} lines; nothing at line {start + 1})")
        return ToolResult(clip("\n".join(chosen), ctx.settings.output_chars))
