"""The workspace: the one directory the file tools act in, and the only cwd ``exec`` gets.

A path the model gives is resolved against the workspace root with every symlink followed (relative
ones too: nanobot#4072 escaped through ``link -> ../..``) and refused unless the real path stays
inside the root. ``..`` is refused outright, even when it would land inside, so the model learns the
rule instead of probing it. The secrets files (auth profiles, channel tokens, the gateway token, the
state database) are refused by real path, in case the workspace is configured around them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from nexus.agent.tool import ToolError
from nexus.common.paths import NexusPaths


class OutsideWorkspace(ToolError):
    """A path the model gave leads outside the workspace or to a secret."""


def secret_files(paths: NexusPaths) -> list[Path]:
    """Every file under the Nexus home that holds a secret or the journal itself."""
    home = paths.home
    return [
        paths.auth_store,
        home / "auth-profiles.state.json",
        home / "channels-secrets.json",
        paths.token_file,
        paths.state_db,
        home / "state.db-wal",
        home / "state.db-shm",
        paths.config_file,
        paths.last_good_config,
    ]


class Workspace:
    def __init__(self, root: Path, *, forbidden: Iterable[Path] = ()) -> None:
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        self.root = Path(os.path.realpath(root))
        self._forbidden = {Path(os.path.realpath(p)) for p in forbidden}

    @classmethod
    def for_home(cls, paths: NexusPaths, configured: str | None = None) -> Workspace:
        root = Path(configured).expanduser() if configured else paths.workspace
        if not root.is_absolute():
            root = paths.home / root
        return cls(root, forbidden=secret_files(paths))

    def resolve(self, raw: str) -> Path:
        """The real path of ``raw`` inside the workspace, or :class:`OutsideWorkspace`."""
        if not raw or "\x00" in raw:
            raise OutsideWorkspace("path must be a non-empty string without NUL bytes")
        pure = PurePosixPath(raw)
        if ".." in pure.parts:
            raise OutsideWorkspace(f"{raw}: '..' is not allowed; give a path inside the workspace")
        candidate = Path(raw) if pure.is_absolute() else self.root / raw
        real = Path(os.path.realpath(candidate))
        if not real.is_relative_to(self.root):
            how = "is outside" if pure.is_absolute() and real == candidate else "leads outside"
            raise OutsideWorkspace(f"{raw}: {how} the workspace ({self.root}); file tools act only inside it")
        if real in self._forbidden:
            raise OutsideWorkspace(f"{raw}: this file holds Nexus secrets and is not available to tools")
        return real

    def show(self, path: Path) -> str:
        """A path as the model should see it: relative to the workspace."""
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return str(path)
        return str(rel) if str(rel) != "." else "."
