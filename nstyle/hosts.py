"""Host names: which name this machine's loopback interface (servers the tests start, the
web app and a local Ray cluster bind it only). A leaf: no framework."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
