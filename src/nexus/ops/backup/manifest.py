"""The archive's table of contents and the pure checks over it.

``manifest.json`` lists every other member with its size, SHA-256 and mode. ``verify`` and
``restore`` accept an archive only when the members present are exactly the members listed, each path
is a plain relative path inside the archive, and every digest matches: a flipped bit, a truncated
file, an added file or a ``../`` path are all refused before anything is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

FORMAT = 1
MANIFEST_NAME = "manifest.json"
SECRETS_NAME = "secrets.enc"
STATE_DB = "state.db"
CONFIG = "nexus.toml"
WORKSPACE = "workspace"


@dataclass(frozen=True)
class Member:
    path: str
    size: int
    sha256: str
    mode: int = 0o600

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "mode": oct(self.mode)}

    @classmethod
    def of(cls, path: str, data: bytes, mode: int = 0o600) -> Member:
        return cls(path, len(data), hashlib.sha256(data).hexdigest(), mode)


@dataclass(frozen=True)
class Manifest:
    created_at: float
    nexus_version: str
    members: tuple[Member, ...]
    secrets: bool = False
    """True when ``secrets.enc`` (passphrase-encrypted) is among the members."""
    facts: Mapping[str, Any] = field(default_factory=dict)
    """What was found while taking it: row counts of state.db, the integrity check's answer."""

    def to_bytes(self) -> bytes:
        doc = {
            "format": FORMAT,
            "created_at": self.created_at,
            "nexus_version": self.nexus_version,
            "secrets": self.secrets,
            "facts": dict(self.facts),
            "members": [m.to_json() for m in self.members],
        }
        return json.dumps(doc, indent=1, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        """Parse; raise ValueError naming what is wrong."""
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"manifest.json is not JSON ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"manifest.json is not a Nexus backup manifest of format {FORMAT}")
        try:
            members = tuple(
                Member(str(m["path"]), int(m["size"]), str(m["sha256"]), int(str(m["mode"]), 8))
                for m in doc["members"]
            )
            return cls(
                created_at=float(doc["created_at"]),
                nexus_version=str(doc["nexus_version"]),
                members=members,
                secrets=bool(doc.get("secrets", False)),
                facts=dict(doc.get("facts") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"manifest.json is malformed ({exc!r})") from exc

    def member(self, path: str) -> Member | None:
        return next((m for m in self.members if m.path == path), None)


def unsafe_path(path: str) -> str | None:
    """Why ``path`` may not be written under a restore directory, or None when it is a plain path."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or "\\" in path:
        return "is absolute or not a POSIX path"
    if any(part in ("", ".", "..") for part in path.split("/")):
        return "leaves the archive (.. or empty parts)"
    return None


def problems(manifest: Manifest, present: Mapping[str, bytes]) -> list[str]:
    """Pure: every way ``present`` (member path -> content) differs from ``manifest``; [] when it matches."""
    found: list[str] = []
    listed = {m.path for m in manifest.members}
    if len(listed) != len(manifest.members):
        found.append("the manifest lists a member twice")
    for member in manifest.members:
        why = unsafe_path(member.path)
        if why:
            found.append(f"{member.path}: {why}")
            continue
        data = present.get(member.path)
        if data is None:
            found.append(f"{member.path}: missing")
        elif len(data) != member.size:
            found.append(f"{member.path}: {len(data)} bytes, the manifest says {member.size}")
        elif hashlib.sha256(data).hexdigest() != member.sha256:
            found.append(f"{member.path}: SHA-256 does not match the manifest (the file is damaged)")
    found.extend(f"{path}: not in the manifest" for path in sorted(set(present) - listed))
    if manifest.secrets != (SECRETS_NAME in listed):
        found.append("the manifest's secrets flag disagrees with its members")
    return found


def summary(manifest: Manifest) -> Iterable[str]:
    """Lines for people: what the archive holds."""
    total = sum(m.size for m in manifest.members)
    workspace = sum(1 for m in manifest.members if m.path.startswith(WORKSPACE + "/"))
    yield f"{len(manifest.members)} members, {total} bytes; workspace files: {workspace}"
    for key, value in sorted(manifest.facts.items()):
        yield f"{key}: {value}"
    yield "secrets: included, encrypted" if manifest.secrets else "secrets: not included"
