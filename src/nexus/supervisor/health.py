"""Liveness: an HTTP GET with a hard timeout. Readiness is not checked here on purpose: a broken
provider or credential is not fixed by a restart, so only "does the process answer at all" counts."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class HealthUrl:
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, raw: str) -> HealthUrl:
        parts = urlsplit(raw)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(
                f"health URL {raw!r} must look like http://127.0.0.1:PORT/healthz (http, host and port)"
            )
        return cls(parts.hostname, parts.port, parts.path or "/")


async def probe(url: HealthUrl, *, limit_s: float) -> bool:
    """True when ``url`` answers 2xx within ``limit_s`` seconds (connect, send and read included)."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(limit_s):
            reader, writer = await asyncio.open_connection(url.host, url.port)
            request = f"GET {url.path} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\nConnection: close\r\n\r\n"
            writer.write(request.encode())
            await writer.drain()
            status_line = await reader.readline()
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    parts = status_line.split()
    return len(parts) >= 2 and parts[1].startswith(b"2")
