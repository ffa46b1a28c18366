"""Client addresses are personal data: we keep only a truncated form in logs."""

from __future__ import annotations

import ipaddress


def truncate_ip(address: str | None) -> str:
    """IPv4 to its /24, IPv6 to its /48; anything else to 'unknown'."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    prefix = 24 if ip.version == 4 else 48
    network = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    return str(network.network_address)
