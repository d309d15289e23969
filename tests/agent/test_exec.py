"""exec as real processes: workspace cwd, scrubbed environment, timeout, cap, rlimits, tree kills."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import psutil
import pytest

from nexus.agent.environment import known_secrets, scrub_environment
from nexus.agent.tool import ToolContext
from nexus.agent.tools.exec import Exec, ExecInput
from nexus.agent.workspace import Workspace
from nexus.channels.secrets import ChannelSecrets
from nexus.common.gateway_token import ensure_token
from nexus.common.paths import NexusPaths
from nexus.common.secret import Secret
from nexus.config.schema import NexusConfig, ProviderConfig, ToolsConfig
from tests.agent.conftest import make_ctx


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def _poll(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


async def test_runs_in_the_workspace_and_reports_the_exit_code(ctx: ToolContext) -> None:
    result = await Exec().run(ExecInput(command="pwd; echo err >&2; exit 3"), ctx)
    assert result.is_error
    assert result.content.splitlines() == ["exit code 3", str(ctx.workspace.root), "err"]
    ok = await Exec().run(ExecInput(command="true"), ctx)
    assert ok.content == "exit code 0\n(no output)" and not ok.is_error


async def test_secrets_never_reach_the_environment(
    paths: NexusPaths, workspace: Workspace, tmp_path: Path
) -> None:
    token = ensure_token(paths, {})
    ChannelSecrets(paths.home).set("telegram", Secret("123456:telegram-bot-token-value"))
    config = NexusConfig(providers={"corp": ProviderConfig(api_key_env="CORP_LLM_KEY")})
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "ANTHROPIC_API_KEY": "sk-ant-test-0123456789",
        "OPENAI_API_KEY": "sk-openai-0123456789",
        "CORP_LLM_KEY": "corp-key-0123456789",
        "NEXUS_GATEWAY_TOKEN": "gw-token-0123456789",
        "SOME_UNKNOWN_SECRET": "unheard-of-0123456789",
        "TERM": f"xterm {token.reveal()}",  # an allowed name carrying a known secret value
    }
    secrets = known_secrets(config, paths, environ)
    assert "123456:telegram-bot-token-value" in secrets and token.reveal() in secrets
    assert "corp-key-0123456789" in secrets
    env = scrub_environment(environ, secrets=secrets)
    ctx = make_ctx(workspace, tmp_path, environ=env)
    out = (await Exec().run(ExecInput(command="env"), ctx)).content
    for value in (*secrets, "unheard-of-0123456789", "sk-ant-test", "gw-token"):
        assert value not in out
    assert "LANG=C.UTF-8" in out and f"HOME={tmp_path}" in out


async def test_timeout_kills_the_tree_and_keeps_the_output(workspace: Workspace, tmp_path: Path) -> None:
    ctx = make_ctx(workspace, tmp_path)
    started = time.monotonic()
    result = await Exec().run(ExecInput(command="echo before; sleep 30; echo AFTER", timeout_s=0.5), ctx)
    assert time.monotonic() - started < 5
    assert result.is_error and "timed out after 0.5s" in result.content
    assert "before" in result.content and "AFTER" not in result.content


async def test_timeout_is_bounded_by_the_config(workspace: Workspace, tmp_path: Path) -> None:
    ctx = make_ctx(workspace, tmp_path, settings=ToolsConfig(exec_max_timeout_s=0.3))
    result = await Exec().run(ExecInput(command="sleep 30", timeout_s=1000), ctx)
    assert "timed out after 0.3s" in result.content


async def test_output_cap_keeps_head_and_tail(workspace: Workspace, tmp_path: Path) -> None:
    ctx = make_ctx(workspace, tmp_path, settings=ToolsConfig(output_chars=1000))
    result = await Exec().run(
        ExecInput(command="echo HEAD; head -c 200000 /dev/zero | tr '\\0' x; echo; echo TAIL"), ctx
    )
    assert len(result.content) < 1200
    assert "HEAD" in result.content and "TAIL" in result.content and "bytes cut" in result.content


async def test_rlimits_apply(workspace: Workspace, tmp_path: Path) -> None:
    ctx = make_ctx(workspace, tmp_path, settings=ToolsConfig(exec_memory_mb=256, exec_file_mb=1))
    out = (await Exec().run(ExecInput(command="ulimit -v; ulimit -f"), ctx)).content.splitlines()
    assert out[1:] == [str(256 * 1024), str(1024 * 1024 // 512)]
    big = await Exec().run(ExecInput(command="head -c 3000000 /dev/zero > big.bin"), ctx)
    assert big.is_error
    assert (workspace.root / "big.bin").stat().st_size <= 1024 * 1024


async def test_a_background_child_holding_the_pipe_does_not_stall_the_call(
    workspace: Workspace, tmp_path: Path
) -> None:
    ctx = make_ctx(workspace, tmp_path)
    started = time.monotonic()
    result = await Exec().run(ExecInput(command="sleep 60 & echo $!"), ctx)
    assert time.monotonic() - started < 5
    pid = int(result.content.splitlines()[1])
    assert await _poll(lambda: _gone(pid)), "the background child was left running"


async def test_abort_kills_children_and_grandchildren(workspace: Workspace, tmp_path: Path) -> None:
    ctx = make_ctx(workspace, tmp_path)
    pids = workspace.root / "pids"
    # a child in the group, and a grandchild that left for a session of its own
    command = f"sleep 300 & echo $! >> {pids}; setsid sh -c 'echo $$ >> {pids}; exec sleep 300' & sleep 300"
    task = asyncio.create_task(Exec().run(ExecInput(command=command, timeout_s=600), ctx))
    assert await _poll(lambda: pids.exists() and len(pids.read_text().split()) == 2)
    recorded = [int(p) for p in pids.read_text().split()]
    assert all(not _gone(p) for p in recorded)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _poll(lambda: all(_gone(p) for p in recorded)), "a descendant survived the abort"


def test_scrub_keeps_only_the_allow_list() -> None:
    env = scrub_environment(
        {"PATH": "/bin", "LC_ALL": "C", "AWS_SECRET_ACCESS_KEY": "x" * 20, "HOME": "/h", "PS1": "$"},
        secrets=["short"],
    )
    assert env == {"PATH": "/bin", "LC_ALL": "C", "HOME": "/h"}
    assert scrub_environment({})["PATH"]


@pytest.mark.parametrize("pidfd", [True, False])
async def test_exit_is_seen_through_both_kernel_paths(pidfd: bool) -> None:
    from nexus.agent.process import exited

    proc = await asyncio.create_subprocess_exec("sh", "-c", "sleep 0.2")
    started = time.monotonic()
    await asyncio.wait_for(exited(proc.pid, pidfd=pidfd), 10)
    assert time.monotonic() - started >= 0.15
    assert await asyncio.wait_for(proc.wait(), 10) == 0
