"""web_fetch against a real local HTTP server: text extraction, caps, and every redirect re-checked."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nexus.agent.netguard import BlockedAddress, check_address
from nexus.agent.tool import ToolContext, ToolError
from nexus.agent.tools.web_fetch import WebFetch, WebFetchInput
from nexus.agent.workspace import Workspace
from nexus.config.schema import ToolsConfig
from tests.agent.conftest import make_ctx

ARTICLE = """<html><head><title>Backups that work</title><script>var x=1;</script></head><body>
<nav>menu menu menu</nav><article><h1>Backups that work</h1>
<p>Push the workspace to a git remote every hour. This paragraph is long enough for readability to
keep it as the main content of the page, with <a href="/more">a link</a> and <b>bold</b> text.</p>
<p>A second paragraph, also long enough to count as content for the extraction heuristics here.</p>
</article><footer>footer</footer></body></html>"""


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", ctype: str = "text/html", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        routes = {
            "/page": lambda: self._send(200, ARTICLE.encode()),
            "/json": lambda: self._send(200, b'{"ok": true}', "application/json"),
            "/png": lambda: self._send(200, b"\x89PNG....", "image/png"),
            "/big": lambda: self._send(200, b"x" * 50_000, "text/plain"),
            "/missing": lambda: self._send(404, b"<p>not here</p>"),
            "/to-page": lambda: self._send(302, Location="/page"),
            "/to-private": lambda: self._send(302, Location="http://10.20.30.40/admin"),
            "/to-metadata": lambda: self._send(301, Location="http://169.254.169.254/latest/meta-data"),
            "/to-ftp": lambda: self._send(302, Location="ftp://example.org/x"),
            "/loop": lambda: self._send(302, Location="/loop"),
        }
        if self.path == "/slow":
            time.sleep(3)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up: expected
                self._send(200, b"late", "text/plain")
            return
        routes.get(self.path, lambda: self._send(404, b""))()


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _ctx(workspace: Workspace, tmp_path: Path, **settings: object) -> ToolContext:
    return make_ctx(workspace, tmp_path, settings=ToolsConfig(fetch_allow_loopback=True, **settings))


async def _fetch(ctx: ToolContext, url: str) -> str:
    return (await WebFetch().run(WebFetchInput(url=url), ctx)).content


async def test_html_becomes_readable_markdown(site: str, workspace: Workspace, tmp_path: Path) -> None:
    text = await _fetch(_ctx(workspace, tmp_path), f"{site}/to-page")
    assert text.startswith(f"{site}/page — HTTP 200")
    assert "Push the workspace to a git remote" in text and "**bold**" in text and "[a link](/more)" in text
    assert "var x=1" not in text and "menu menu" not in text


async def test_other_types(site: str, workspace: Workspace, tmp_path: Path) -> None:
    ctx = _ctx(workspace, tmp_path)
    assert '{"ok": true}' in await _fetch(ctx, f"{site}/json")
    assert "image/png, 8 bytes (not text)" in await _fetch(ctx, f"{site}/png")
    missing = await WebFetch().run(WebFetchInput(url=f"{site}/missing"), ctx)
    assert missing.is_error and "HTTP 404" in missing.content


async def test_size_and_time_caps(site: str, workspace: Workspace, tmp_path: Path) -> None:
    big = await _fetch(_ctx(workspace, tmp_path, fetch_max_bytes=1000), f"{site}/big")
    assert "cut at 1000 bytes" in big and big.count("x") <= 1000
    started = time.monotonic()
    with pytest.raises(ToolError, match=r"within 0\.5s"):
        await _fetch(_ctx(workspace, tmp_path, fetch_timeout_s=0.5), f"{site}/slow")
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/to-private", "private or link-local address (10.20.30.40)"),
        ("/to-metadata", "private or link-local address (169.254.169.254)"),
        ("/to-ftp", "only http and https"),
        ("/loop", "more than 5 redirects"),
    ],
)
async def test_every_redirect_is_rechecked(
    site: str, workspace: Workspace, tmp_path: Path, path: str, says: str
) -> None:
    with pytest.raises(ToolError, match=None) as info:
        await _fetch(_ctx(workspace, tmp_path), f"{site}{path}")
    assert says in str(info.value)


async def test_loopback_is_refused_by_default(site: str, workspace: Workspace, tmp_path: Path) -> None:
    ctx = make_ctx(workspace, tmp_path)
    for url in (f"{site}/page", site.replace("127.0.0.1", "localhost") + "/page"):
        with pytest.raises(BlockedAddress, match="loopback"):
            await _fetch(ctx, url)
    with pytest.raises(ToolError, match="only http and https"):
        await _fetch(ctx, "file:///etc/passwd")


@pytest.mark.parametrize(
    ("address", "loopback", "private", "blocked"),
    [
        ("8.8.8.8", False, False, False),
        ("127.0.0.1", False, False, True),
        ("127.0.0.1", True, False, False),
        ("::1", False, True, True),
        ("::ffff:127.0.0.1", False, False, True),
        ("::ffff:10.0.0.1", True, False, True),
        ("192.168.1.1", True, False, True),
        ("192.168.1.1", False, True, False),
        ("fe80::1%eth0", False, False, True),
        ("100.64.0.1", False, False, True),
        ("0.0.0.0", True, True, True),
        ("224.0.0.1", True, True, True),
        ("2606:4700::1111", False, False, False),
    ],
)
def test_address_table(address: str, loopback: bool, private: bool, blocked: bool) -> None:
    try:
        check_address("h", address, allow_loopback=loopback, allow_private=private)
    except BlockedAddress:
        assert blocked
    else:
        assert not blocked
