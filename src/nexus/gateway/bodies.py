"""Read an HTTP request body within the limits (size, time) and parse it as JSON, or say why not.

Starlette's ``request.body()`` would read any size for any time; a client that sends 10 GB, or a
byte a minute, must get a 413 or a 408 instead of holding memory and a connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import ClientDisconnect, Request

from nexus.errors import ProtocolError
from nexus.protocol.messages import MAX_BODY_BYTES, BadJSON, parse_json

BODY_TIMEOUT_S = 30.0


class BodyError(ProtocolError):
    """The body cannot be used: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_body(
    request: Request, *, limit: int = MAX_BODY_BYTES, timeout_s: float = BODY_TIMEOUT_S
) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"body is {int(declared)} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyError(413, f"body is larger than the limit of {limit} bytes")
                chunks.append(chunk)
    except TimeoutError as exc:
        raise BodyError(408, f"body not received within {timeout_s:g}s") from exc
    except ClientDisconnect as exc:
        raise BodyError(400, "the client went away while sending the body") from exc
    return b"".join(chunks)


async def read_json(request: Request) -> Any:
    raw = await read_body(request)
    try:
        return parse_json(raw)
    except BadJSON as exc:
        raise BodyError(400, f"body: {exc}") from exc
