"""Credentials another program owns, read but never refreshed: Claude Code's first.

Claude Code keeps ``~/.claude/.credentials.json`` (``$CLAUDE_CONFIG_DIR`` if set):
``{"claudeAiOauth": {"accessToken", "refreshToken", "expiresAt": <epoch ms>, ...}}``.
Its refresh token is single-use and Claude Code spends it whenever it likes; if Nexus spent it too,
one of the two would be logged out (the incident). So Nexus only reads: it follows the file's
changes, uses the access token until it actually expires, and never sends the refresh token anywhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nexus.common.secret import Secret

CLAUDE_CODE = "claude-code"
EXPIRED_HINT = (
    "expired: run `claude` once to refresh it, or add a separate token (`nexus auth add-token anthropic`)"
)


def claude_code_credentials_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    config_dir = env.get("CLAUDE_CONFIG_DIR")
    if config_dir:
        return Path(config_dir).expanduser() / ".credentials.json"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".claude" / ".credentials.json"


@dataclass(frozen=True)
class BorrowedToken:
    access: Secret
    expires_ms: int | None

    @property
    def expires_s(self) -> float | None:
        return None if self.expires_ms is None else self.expires_ms / 1000.0


class BorrowedUnavailable(Exception):
    """The owner's file is missing or unreadable; ``reason`` says what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_claude_code(text: str) -> BorrowedToken:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BorrowedUnavailable(
            "Claude Code's credentials file is not valid JSON; run `claude` to log in"
        ) from exc
    block = raw.get("claudeAiOauth") if isinstance(raw, dict) else None
    if (
        not isinstance(block, dict)
        or not isinstance(block.get("accessToken"), str)
        or not block["accessToken"]
    ):
        raise BorrowedUnavailable(
            "Claude Code's credentials file has no claudeAiOauth.accessToken; run `claude` to log in"
        )
    expires = block.get("expiresAt")
    expires_ms = int(expires) if isinstance(expires, int | float) and not isinstance(expires, bool) else None
    return BorrowedToken(access=Secret(block["accessToken"]), expires_ms=expires_ms)


class BorrowedFile:
    """Follows one owner's credential file; re-parses only when the file changed (or when asked)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._cache: tuple[tuple[int, int, int], BorrowedToken] | None = None

    def read(self, *, fresh: bool = False) -> BorrowedToken:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise BorrowedUnavailable(
                f"{self.path} does not exist: log in with `claude` first, or add a separate token"
            ) from None
        except OSError as exc:
            raise BorrowedUnavailable(f"{self.path} cannot be read ({exc.strerror})") from exc
        sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        if not fresh and self._cache is not None and self._cache[0] == sig:
            return self._cache[1]
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BorrowedUnavailable(f"{self.path} cannot be read ({type(exc).__name__})") from exc
        token = parse_claude_code(text)
        self._cache = (sig, token)
        return token
