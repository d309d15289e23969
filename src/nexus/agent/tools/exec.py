"""``exec {command, timeout_s?}``: a shell command in the workspace, as its own process tree.

Whether it runs at all is the approval policy's decision (``[tools] exec``), made before this is
called; here it only runs: cwd is the workspace root, the environment is scrubbed, the output is
capped (head and tail kept), the time is bounded, and an abort kills the whole tree.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from nexus.agent.process import Limits, run_command
from nexus.agent.tool import SideEffect, ToolContext, ToolInput, ToolResult


class ExecInput(ToolInput):
    command: str = Field(min_length=1, max_length=100_000, description="Shell command (run by /bin/sh -c).")
    timeout_s: float | None = Field(default=None, gt=0, description="Seconds before the command is killed.")


class Exec:
    name: ClassVar[str] = "exec"
    description: ClassVar[str] = (
        "Run a shell command in the workspace folder and return its exit code and output "
        "(stdout and stderr together). The owner may have to approve it first."
    )
    Input: ClassVar[type[ToolInput]] = ExecInput
    side_effect: ClassVar[SideEffect] = SideEffect.EXTERNAL

    async def run(self, args: ExecInput, ctx: ToolContext) -> ToolResult:
        settings = ctx.settings
        timeout = min(args.timeout_s or settings.exec_timeout_s, settings.exec_max_timeout_s)
        done = await run_command(
            args.command,
            cwd=ctx.workspace.root,
            env=ctx.environ,
            timeout_s=timeout,
            output_cap=settings.output_chars,
            limits=Limits(
                memory_bytes=settings.exec_memory_mb * 1024 * 1024,
                file_bytes=settings.exec_file_mb * 1024 * 1024,
            ),
            spool=ctx.spool,
        )
        output = done.output if done.output else "(no output)"
        if done.timed_out:
            return ToolResult(f"timed out after {timeout:g}s and was killed; output so far:\n{output}", True)
        return ToolResult(f"exit code {done.exit_code}\n{output}", is_error=done.exit_code != 0)
