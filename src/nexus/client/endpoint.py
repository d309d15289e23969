"""Where the gateway is and the token it expects, from Nexus's home and config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nexus.common.gateway_token import read_token
from nexus.common.paths import NexusPaths
from nexus.common.secret import Secret


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    """``http://127.0.0.1:18789``, no trailing slash."""
    token: Secret | None

    @property
    def ws_url(self) -> str:
        return "ws" + self.base_url.removeprefix("http") + "/ws"

    @property
    def address(self) -> str:
        return self.base_url.split("://", 1)[-1]

    @classmethod
    def local(
        cls,
        paths: NexusPaths,
        *,
        port: int,
        host: str = "127.0.0.1",
        environ: Mapping[str, str] | None = None,
    ) -> Endpoint:
        """The gateway on this machine; the token from ``NEXUS_GATEWAY_TOKEN`` or ``gateway.token``."""
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"  # a gateway bound to every address is reached through loopback
        shown = f"[{host}]" if ":" in host else host
        return cls(base_url=f"http://{shown}:{port}", token=read_token(paths, environ))
