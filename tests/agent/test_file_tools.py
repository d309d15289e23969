"""read_file, write_file, edit_file, list_dir against a real workspace folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nexus.agent.tool import ToolContext, ToolError
from nexus.agent.tools.edit_file import EditFile, EditFileInput
from nexus.agent.tools.list_dir import ListDir, ListDirInput
from nexus.agent.tools.read_file import ReadFile, ReadFileInput
from nexus.agent.tools.write_file import WriteFile, WriteFileInput
from nexus.agent.workspace import OutsideWorkspace
from nexus.config.schema import ToolsConfig
from tests.agent.conftest import make_ctx


async def test_write_then_read_with_offset_and_limit(ctx: ToolContext) -> None:
    result = await WriteFile().run(WriteFileInput(path="d/n.txt", content="one\ntwo\nthree\n"), ctx)
    assert result.content == "wrote 14 bytes to d/n.txt" and not result.is_error
    assert (ctx.workspace.root / "d" / "n.txt").read_text() == "one\ntwo\nthree\n"
    assert (await ReadFile().run(ReadFileInput(path="d/n.txt"), ctx)).content == "one\ntwo\nthree"
    part = await ReadFile().run(ReadFileInput(path="d/n.txt", offset=2, limit=1), ctx)
    assert part.content == "two"
    past = await ReadFile().run(ReadFileInput(path="d/n.txt", offset=9), ctx)
    assert "has 3 lines" in past.content


async def test_read_errors_name_the_problem(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="no such file"):
        await ReadFile().run(ReadFileInput(path="missing"), ctx)
    (ctx.workspace.root / "dir").mkdir()
    with pytest.raises(ToolError, match="list_dir"):
        await ReadFile().run(ReadFileInput(path="dir"), ctx)


async def test_read_cap_asks_for_a_range(workspace, tmp_path: Path) -> None:
    ctx = make_ctx(workspace, tmp_path, settings=ToolsConfig(read_max_bytes=10))
    (workspace.root / "big").write_text("x" * 100)
    with pytest.raises(ToolError, match="offset and limit"):
        await ReadFile().run(ReadFileInput(path="big"), ctx)


async def test_output_is_clipped_head_and_tail(workspace, tmp_path: Path) -> None:
    ctx = make_ctx(workspace, tmp_path, settings=ToolsConfig(output_chars=100))
    (workspace.root / "long").write_text("A" * 500 + "END")
    text = (await ReadFile().run(ReadFileInput(path="long"), ctx)).content
    assert len(text) < 200 and "characters cut" in text and text.endswith("END")


async def test_edit_needs_one_exact_match(ctx: ToolContext) -> None:
    f = ctx.workspace.root / "e.py"
    f.write_text("a = 1\nb = 1\n")
    os.chmod(f, 0o640)
    with pytest.raises(ToolError, match="occurs 2 times"):
        await EditFile().run(EditFileInput(path="e.py", old="= 1", new="= 2"), ctx)
    with pytest.raises(ToolError, match="not found"):
        await EditFile().run(EditFileInput(path="e.py", old="c = 1", new="c = 2"), ctx)
    result = await EditFile().run(EditFileInput(path="e.py", old="b = 1", new="b = 2"), ctx)
    assert result.content == "edited e.py: 1 replacement"
    assert f.read_text() == "a = 1\nb = 2\n"
    assert f.stat().st_mode & 0o777 == 0o640
    with pytest.raises(ToolError, match="no such file"):
        await EditFile().run(EditFileInput(path="nope", old="x", new="y"), ctx)


async def test_list_dir(ctx: ToolContext) -> None:
    root = ctx.workspace.root
    (root / "sub").mkdir()
    (root / "f.txt").write_text("12345")
    os.symlink("f.txt", root / "ln")
    text = (await ListDir().run(ListDirInput(path="."), ctx)).content
    assert text.splitlines() == ["f.txt  5 B", "ln -> (link)", "sub/"]
    assert "is empty" in (await ListDir().run(ListDirInput(path="sub"), ctx)).content
    with pytest.raises(ToolError, match="not a folder"):
        await ListDir().run(ListDirInput(path="f.txt"), ctx)


async def test_file_tools_refuse_escapes(ctx: ToolContext, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    os.symlink("../../outside.txt", ctx.workspace.root / "rel")
    for attempt in (
        WriteFile().run(WriteFileInput(path="rel", content="pwned"), ctx),
        WriteFile().run(WriteFileInput(path="../x", content="pwned"), ctx),
        EditFile().run(EditFileInput(path="rel", old="keep", new="pwned"), ctx),
        ReadFile().run(ReadFileInput(path=str(outside)), ctx),
        ListDir().run(ListDirInput(path="/"), ctx),
    ):
        with pytest.raises(OutsideWorkspace):
            await attempt
    assert outside.read_text() == "keep"
    assert not (tmp_path / "home" / "x").exists()
