"""Where Nexus keeps its state: one directory, ``~/.nexus`` unless ``NEXUS_HOME`` says otherwise."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NexusPaths:
    """Every path Nexus reads or writes, derived from one home directory."""

    home: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NexusPaths:
        env = os.environ if environ is None else environ
        raw = env.get("NEXUS_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".nexus")
        return cls(home=Path(raw).expanduser().absolute())

    @property
    def config_file(self) -> Path:
        return self.home / "nexus.toml"

    @property
    def last_good_config(self) -> Path:
        return self.home / "nexus.toml.last-good"

    @property
    def state_db(self) -> Path:
        return self.home / "state.db"

    @property
    def auth_store(self) -> Path:
        return self.home / "auth-profiles.json"

    @property
    def token_file(self) -> Path:
        return self.home / "gateway.token"

    @property
    def workspace(self) -> Path:
        return self.home / "workspace"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def cooldowns(self) -> Path:
        """The model router's cooldowns (written by the gateway, read by ``nexus models`` and the doctor)."""
        return self.run / "cooldowns.json"

    def ensure(self) -> None:
        """Create the state tree with private modes (0700): it holds secrets."""
        for directory in (self.home, self.workspace, self.logs, self.run):
            directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
