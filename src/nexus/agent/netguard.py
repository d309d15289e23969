"""Which addresses ``web_fetch`` may reach: pure checks over resolved IP addresses.

Every hop (the first URL and each redirect) is resolved and checked before a connection is made, so
a public page cannot redirect the fetch to the cloud metadata service, the router's admin page or
the gateway itself. Loopback and private/link-local ranges are refused unless ``[tools]
fetch_allow_loopback`` / ``fetch_allow_private`` say otherwise. (Residual risk, documented in
docs/tools.md: a name whose DNS answer changes between the check and the connection.)
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from nexus.agent.tool import ToolError


class BlockedAddress(ToolError):
    pass


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or ToolError naming what is wrong."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ToolError(f"{url}: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ToolError(f"{url}: only http and https URLs can be fetched")
    if not parts.hostname:
        raise ToolError(f"{url}: the URL has no host")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_address(
    host: str, address: str, *, allow_loopback: bool = False, allow_private: bool = False
) -> None:
    """Raise BlockedAddress unless ``address`` (what ``host`` resolved to) may be reached."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        if not allow_loopback:
            raise BlockedAddress(
                f"{host} is a loopback address ({ip}); web_fetch does not reach local services"
            )
        return
    if ip.is_unspecified or ip.is_multicast:
        raise BlockedAddress(f"{host} resolves to {ip}, which cannot be fetched")
    if not ip.is_global and not allow_private:
        raise BlockedAddress(
            f"{host} resolves to a private or link-local address ({ip}); web_fetch reaches only public hosts"
        )
