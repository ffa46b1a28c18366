"""Where webhooks may go: public addresses only, checked when subscribing and again before
every attempt (a name may resolve elsewhere by then: DNS rebinding).

The request is then sent to the very address that was checked, with the name kept for the
Host header and for TLS (SNI and certificate), so a second lookup cannot swap it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from parlour.core.errors import AppError, ErrorCode

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")
MAX_ADDRESSES = 4  # tried in turn when a connection is refused


@dataclass(frozen=True)
class Policy:
    allow_http: bool = False
    allow_private: bool = False


@dataclass(frozen=True)
class Target:
    """A checked destination: connect to one of its addresses, but speak to its host."""

    urls: list[str]  # the URL with each checked address in place of the name, in DNS order
    host_header: str
    sni_host: str | None


def refused(reason: str) -> AppError:
    return AppError(
        ErrorCode.WEBHOOK_URL_REFUSED,
        f"Webhooks cannot be sent to this address: {reason}.",
        fields={"url": f"Use a public https:// address ({reason})."},
    )


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IP) -> bool:
    """Not loopback, private, link-local, multicast, reserved, unspecified or unique-local."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:  # judged by the IPv4 address it reaches
            return is_public(inner)
    special = (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )
    return ip.is_global and not special


def check_shape(url: str, policy: Policy) -> str:
    """The URL, trimmed, when its form is acceptable; raises ``webhook_url_refused``."""
    url = url.strip()
    parts = urlsplit(url)
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in schemes:
        raise refused("only https:// addresses are accepted")
    if not parts.hostname:
        raise refused("the address names no host")
    if parts.username or parts.password:
        raise refused("the address must not contain a user name or password")
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError as exc:
        raise refused("the port is not valid") from exc
    return urlunsplit(parts._replace(fragment=""))


async def resolve(host: str, port: int) -> list[IP]:
    try:
        return [ipaddress.ip_address(host.split("%")[0])]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise refused("the host name does not resolve") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check_url(url: str, policy: Policy) -> Target:
    """Resolves the host and refuses it unless every address it has is public."""
    url = check_shape(url, policy)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    found = await resolve(host, port)
    if not found:
        raise refused("the host name does not resolve")
    if not policy.allow_private and not all(is_public(ip) for ip in found):
        raise refused("it is a private, local or reserved network address")
    urls = []
    for address in dict.fromkeys(found):  # each once, in the resolver's order
        literal = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        urls.append(urlunsplit(parts._replace(netloc=netloc)))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    sni = host if parts.scheme == "https" else None
    return Target(urls[:MAX_ADDRESSES], host_header, sni)
