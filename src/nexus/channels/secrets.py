"""Channel credentials (bot tokens) in ``$NEXUS_HOME/channels-secrets.json``: 0600, written atomically
under a lock, never in nexus.toml, argv or logs. Values come back wrapped in :class:`Secret`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nexus.channels.errors import ChannelConfigError
from nexus.common.atomic import atomic_write_text
from nexus.common.locks import FileLock
from nexus.common.secret import Secret

FILE_NAME = "channels-secrets.json"


class ChannelSecrets:
    def __init__(self, home: Path) -> None:
        self.path = Path(home) / FILE_NAME
        self._lock = FileLock(Path(home) / "run" / f"{FILE_NAME}.lock")

    def get(self, channel: str) -> Secret | None:
        value = self._read().get("channels", {}).get(channel, {}).get("token")
        return Secret(value) if isinstance(value, str) and value else None

    def set(self, channel: str, token: Secret) -> None:
        self._lock.acquire(10.0)
        try:
            data = self._read()
            data.setdefault("channels", {})[channel] = {"token": token.reveal()}
            data["version"] = 1
            atomic_write_text(self.path, json.dumps(data, indent=2) + "\n", mode=0o600)
        finally:
            self._lock.release()

    def channels(self) -> list[str]:
        return sorted(self._read().get("channels", {}))

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ChannelConfigError(
                [f"{self.path}: unreadable ({type(exc).__name__}); run `nexus channels add NAME` again"]
            ) from None
        return data if isinstance(data, dict) else {}
