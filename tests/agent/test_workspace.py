"""Every escape attempt from the workspace is refused with a sentence; paths inside resolve."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nexus.agent.workspace import OutsideWorkspace, Workspace
from nexus.common.paths import NexusPaths


def test_inside_paths_resolve(workspace: Workspace) -> None:
    (workspace.root / "notes").mkdir()
    (workspace.root / "notes" / "a.md").write_text("x")
    assert workspace.resolve("notes/a.md") == workspace.root / "notes" / "a.md"
    assert workspace.resolve("./notes/./a.md") == workspace.root / "notes" / "a.md"
    assert workspace.resolve(str(workspace.root / "notes" / "a.md")) == workspace.root / "notes" / "a.md"
    assert workspace.resolve("new/file.txt") == workspace.root / "new" / "file.txt"
    os.symlink("notes/a.md", workspace.root / "inner-link")
    assert workspace.resolve("inner-link") == workspace.root / "notes" / "a.md"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("../outside.txt", "'..' is not allowed"),
        ("notes/../../x", "'..' is not allowed"),
        ("notes/..", "'..' is not allowed"),
        ("/etc/passwd", "outside the workspace"),
        ("", "non-empty"),
        ("a\x00b", "NUL"),
    ],
)
def test_plain_escapes_are_refused(workspace: Workspace, raw: str, says: str) -> None:
    with pytest.raises(OutsideWorkspace, match=says):
        workspace.resolve(raw)


def test_absolute_symlink_out_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    os.symlink(secret, workspace.root / "abs-link")
    with pytest.raises(OutsideWorkspace, match="leads outside"):
        workspace.resolve("abs-link")


def test_relative_symlink_out_is_refused(workspace: Workspace) -> None:
    # nanobot#4072: a relative link escaped a guard that only checked the link's own path
    os.symlink("../..", workspace.root / "up")
    with pytest.raises(OutsideWorkspace, match="leads outside"):
        workspace.resolve("up/etc/passwd")
    os.symlink("../../..", workspace.root / "dir-up")
    with pytest.raises(OutsideWorkspace):
        workspace.resolve("dir-up")


def test_symlinked_folder_out_then_new_file_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, workspace.root / "out")
    with pytest.raises(OutsideWorkspace):
        workspace.resolve("out/new.txt")


def test_dangling_symlink_pointing_out_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    os.symlink(tmp_path / "not-yet", workspace.root / "dangling")
    with pytest.raises(OutsideWorkspace):
        workspace.resolve("dangling")


def test_secrets_are_refused_when_the_workspace_is_the_home(tmp_path: Path) -> None:
    paths = NexusPaths(home=tmp_path / "home")
    paths.ensure()
    for name in ("auth-profiles.json", "channels-secrets.json", "gateway.token", "state.db"):
        (paths.home / name).write_text("secret")
    ws = Workspace.for_home(paths, configured=str(paths.home))
    for name in ("auth-profiles.json", "channels-secrets.json", "gateway.token", "state.db", "nexus.toml"):
        with pytest.raises(OutsideWorkspace, match="secrets"):
            ws.resolve(name)
    os.symlink("gateway.token", paths.home / "alias")
    with pytest.raises(OutsideWorkspace, match="secrets"):
        ws.resolve("alias")


def test_configured_relative_workspace_is_under_the_home(tmp_path: Path) -> None:
    paths = NexusPaths(home=tmp_path / "home")
    paths.ensure()
    ws = Workspace.for_home(paths, configured="projects")
    assert ws.root == (paths.home / "projects").resolve()
    assert ws.root.is_dir()
