"""``web_fetch {url}``: a web page as readable text (readability-lxml + markdownify).

Capped in size (``[tools] fetch_max_bytes``, read as a stream and cut off), time
(``fetch_timeout_s`` for the whole fetch, redirects included) and output (``output_chars``).
Redirects are followed by hand so every hop is re-checked by :mod:`nexus.agent.netguard`.
"""

from __future__ import annotations

import asyncio
import socket
from typing import ClassVar
from urllib.parse import urljoin

import httpx
from pydantic import Field

from nexus.agent.netguard import check_address, check_url
from nexus.agent.tool import SideEffect, ToolContext, ToolError, ToolInput, ToolResult, clip

REDIRECTS = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "Nexus-web_fetch/1 (+personal assistant)"


class WebFetchInput(ToolInput):
    url: str = Field(min_length=1, max_length=8192, description="An http:// or https:// URL.")


class WebFetch:
    name: ClassVar[str] = "web_fetch"
    description: ClassVar[str] = (
        "Fetch a public web page over http(s) and return its main text as Markdown (size and time capped)."
    )
    Input: ClassVar[type[ToolInput]] = WebFetchInput
    side_effect: ClassVar[SideEffect] = SideEffect.NONE

    async def run(self, args: WebFetchInput, ctx: ToolContext) -> ToolResult:
        settings = ctx.settings
        try:
            async with asyncio.timeout(settings.fetch_timeout_s):
                url, status, ctype, body, cut = await self._fetch(args.url, ctx)
        except TimeoutError:
            raise ToolError(f"{args.url}: no complete answer within {settings.fetch_timeout_s:g}s") from None
        text = body.decode(_charset(ctype), "replace")
        if "html" in ctype or (not ctype and text.lstrip()[:1] == "<"):
            text = html_to_text(text)
        elif not (ctype.startswith("text/") or "json" in ctype or "xml" in ctype):
            return ToolResult(
                f"{url}: HTTP {status}, {ctype or 'unknown type'}, {len(body)} bytes (not text)"
            )
        note = f" (cut at {settings.fetch_max_bytes} bytes)" if cut else ""
        header = f"{url} — HTTP {status}{note}\n\n"
        return ToolResult(header + clip(text, settings.output_chars), is_error=status >= 400)

    async def _fetch(self, url: str, ctx: ToolContext) -> tuple[str, int, str, bytes, bool]:
        settings = ctx.settings
        transport = ctx.services.get("fetch_transport")
        async with httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            timeout=settings.fetch_timeout_s,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        ) as client:
            for _hop in range(settings.fetch_max_redirects + 1):
                await _check_target(url, ctx)
                try:
                    async with client.stream("GET", url) as response:
                        location = response.headers.get("location")
                        if response.status_code in REDIRECTS and location:
                            url = urljoin(url, location)
                            continue
                        body, cut = await _read_capped(response, settings.fetch_max_bytes)
                        ctype = response.headers.get("content-type", "").lower()
                        return url, response.status_code, ctype, body, cut
                except httpx.HTTPError as exc:
                    raise ToolError(f"{url}: {type(exc).__name__}: {exc}") from None
        raise ToolError(f"{url}: more than {settings.fetch_max_redirects} redirects")


async def _check_target(url: str, ctx: ToolContext) -> None:
    _scheme, host, port = check_url(url)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ToolError(f"{host}: cannot resolve ({exc.strerror})") from None
    for info in infos:
        check_address(
            host,
            str(info[4][0]),
            allow_loopback=ctx.settings.fetch_allow_loopback,
            allow_private=ctx.settings.fetch_allow_private,
        )


async def _read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) > cap:
            return bytes(data[:cap]), True
    return bytes(data), False


def _charset(ctype: str) -> str:
    for part in ctype.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key == "charset" and value:
            try:
                "".encode(value.strip('"'))
                return value.strip('"')
            except LookupError:
                break
    return "utf-8"


def html_to_text(html: str) -> str:
    """The page's main content as Markdown; the whole body when readability finds no article."""
    from markdownify import markdownify
    from readability import Document

    try:
        doc = Document(html)
        title = doc.short_title()
        summary = doc.summary(html_partial=True)
    except Exception:  # readability raises bare errors on odd pages; fall back to the whole page
        title, summary = "", html
    text = markdownify(summary, heading_style="ATX", strip=["script", "style"])
    lines = [line.rstrip() for line in text.splitlines()]
    body = "\n".join(line for i, line in enumerate(lines) if line or (i and lines[i - 1]))
    return f"# {title}\n\n{body.strip()}" if title else body.strip()
