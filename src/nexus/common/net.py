"""Is this address this machine? One answer for the gateway's bind check, proxy bypass and fakes.

``localhost`` and every loopback address (all of 127.0.0.0/8, ``::1``) count; a URL is judged by its
host. Anything unparsable is not loopback, so a doubt never relaxes a check.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    """``host`` (a name or an address, IPv6 with or without brackets) is this machine's loopback."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return host is not None and is_loopback(host)
