"""Client addresses as gateways log them -> the bare IP the event's `client_ip` holds.

Gateways log the peer as "ip:port" (Envoy `%DOWNSTREAM_REMOTE_ADDRESS%`, Traefik
`ClientAddr`), IPv6 as "[ip]:port", and the client behind proxies as an X-Forwarded-For
list ("203.0.113.7, 10.0.0.1": Envoy `%REQ(X-FORWARDED-FOR)%`, Traefik `ClientHost`).

Decisions a caller may need:
- of an X-Forwarded-For list the first (left-most) entry is taken: the original client as
  the first proxy saw it. It is what the client or a proxy claims, not a verified address;
- "-" and "" (not logged) give "".

Not supported: RFC 7239 `Forwarded` syntax ("for=...;proto=..."); such a value is kept as is.
"""

from __future__ import annotations


def ip_of(address: str) -> str:
    """The IP of "ip:port" or "[ip]:port"; a bare IPv4 or IPv6 address is returned as is.

    "203.0.113.7:51234" -> "203.0.113.7", "[2001:db8::1]:443" -> "2001:db8::1", "-" -> "".
    """
    address = address.strip()
    if address == "-":
        return ""
    if address.startswith("["):
        return address[1:].partition("]")[0]
    host, sep, port = address.rpartition(":")
    if sep and ":" not in host and port.isdigit():
        return host
    return address


def first_forwarded(value: str) -> str:
    """The first address of an X-Forwarded-For list, without a port; "-" or "" give ""."""
    return ip_of(value.partition(",")[0])
