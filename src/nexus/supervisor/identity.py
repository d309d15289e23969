"""Who a supervisor is: its state directory and its name. Every name derived here is stable, so every
supervisor of one ``NEXUS_HOME`` and name (an earlier one killed by SIGKILL included) recognises the
same processes, and two homes, or two names in one home, never touch each other's processes.

The gateway's supervisor (``nexus up``) is named ``gateway`` and keeps the first layout's paths
(``run/supervisor.lock``, ``run/status.json``, ``logs/supervisor.log``, ``logs/gateway.log``) and
marker; any other name (``nexus supervise --name NAME``) lives under ``run/supervise/NAME/`` and
``logs/supervise/NAME/`` with a marker of its own.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nexus.common import NexusPaths

GATEWAY = "gateway"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
INTERPRETERS = re.compile(r"(python|pypy|node|deno|bun|ruby|perl|php|bash|sh|zsh|dash|uv|uvx|npx|env)[0-9.]*")


def marker_for(paths: NexusPaths, name: str = GATEWAY) -> str:
    key = str(paths.home) if name == GATEWAY else f"{paths.home}\0{name}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def check_name(name: str) -> str:
    """``name`` if it can name a supervisor (it becomes a directory name), else ValueError saying why."""
    if not NAME_PATTERN.fullmatch(name) or name in (".", ".."):
        raise ValueError(
            f"{name!r} cannot name a supervisor: use 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    return name


def name_from_command(argv: Sequence[str]) -> str:
    """The default ``--name``: the program's file name, or the script's or module's after an interpreter
    (``python tiny.py`` -> ``tiny``, ``python -m http.server`` -> ``http.server``, ``./bot.sh`` -> ``bot``)."""
    words = list(argv)
    i = 0
    while i < len(words):
        base = Path(words[i]).name
        if not INTERPRETERS.fullmatch(base):
            return _clean(base)
        j = i + 1
        while j < len(words) and words[j].startswith("-"):
            if words[j] == "-m" and j + 1 < len(words):
                return _clean(words[j + 1])
            if words[j] in ("-c", "-e"):
                return _clean(base)
            j += 1
        if j >= len(words):
            return _clean(base)
        i = j
    return "command"


def _clean(word: str) -> str:
    stem = re.sub(r"\.(py|js|mjs|cjs|ts|sh|rb|pl|php)$", "", word)
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.")[:64]
    return cleaned if NAME_PATTERN.fullmatch(cleaned) else "command"


@dataclass(frozen=True)
class Instance:
    """One supervisor's identity: where its lock, status, records and logs live, and its process marker."""

    paths: NexusPaths
    name: str = GATEWAY

    @property
    def is_gateway(self) -> bool:
        return self.name == GATEWAY

    @property
    def marker(self) -> str:
        return marker_for(self.paths, self.name)

    @property
    def run_dir(self) -> Path:
        return self.paths.run if self.is_gateway else self.paths.run / "supervise" / self.name

    @property
    def logs_dir(self) -> Path:
        return self.paths.logs if self.is_gateway else self.paths.logs / "supervise" / self.name

    @property
    def output_log(self) -> Path:
        """The supervised command's stdout and stderr."""
        return self.logs_dir / ("gateway.log" if self.is_gateway else "output.log")

    @property
    def supervisor_log(self) -> Path:
        return self.logs_dir / "supervisor.log"

    @property
    def child_key(self) -> str:
        """The key of the supervised process in the status document: ``gateway`` or ``child``."""
        return "gateway" if self.is_gateway else "child"

    def ensure(self) -> None:
        self.paths.ensure()
        for directory in (self.run_dir, self.logs_dir):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def named_instances(paths: NexusPaths) -> list[Instance]:
    """Every named supervisor that ever ran in this home (its run directory exists), by name."""
    base = paths.run / "supervise"
    try:
        names = sorted(p.name for p in base.iterdir() if p.is_dir() and NAME_PATTERN.fullmatch(p.name))
    except OSError:
        return []
    return [Instance(paths, name) for name in names]
