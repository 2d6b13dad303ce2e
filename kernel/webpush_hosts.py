"""Which hosts a Web Push endpoint may name, so the router cannot be made to POST inside the
network: the rule the edge applies at registration and the router's sender at connect time.

A browser's subscription names its push service's URL; an attacker's names an internal one.
Only hosts on the allow-list (`push_webpush_hosts`, router/push/config.py) are accepted. A
pattern (`*.notify.windows.com`, or `*` for any host) admits names only: never `localhost`, and
never an address, literal or resolved, in a private, loopback, link-local or reserved range
(nor an IPv6 one wrapping such an IPv4 address: mapped, NAT64, 6to4, Teredo).
A host the list names exactly (not by a pattern) is the operator's explicit choice and trusted
as named: that is how a test, or a push service inside the network, is allowed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

DEFAULT_WEBPUSH_HOSTS: tuple[str, ...] = (
    "fcm.googleapis.com",  # Chrome, Edge on Android, Opera, Samsung Internet
    "updates.push.services.mozilla.com",  # Firefox
    "*.notify.windows.com",  # Edge on Windows (WNS)
    "web.push.apple.com",  # Safari
)
"""The Web Push services' domains that browsers subscribe with today."""

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
"""NAT64's well-known prefix (RFC 6052): the IPv4 address in the last 32 bits is where a
packet goes."""
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
"""NAT64's local-use prefix (RFC 8215): an operator's own translators, with prefixes of any
RFC 6052 length, so where the IPv4 sits cannot be told from the address: always internal."""


def _normal(host: str) -> str:
    return host.lower().rstrip(".").strip("[]")


def named_exactly(host: str, allowed: Iterable[str]) -> bool:
    """The allow-list names `host` itself, not through a pattern."""
    return _normal(host) in {_normal(entry) for entry in allowed if "*" not in entry}


def matches(host: str, allowed: Iterable[str]) -> bool:
    """`host` is on the list: named exactly, by `*.suffix` (a subdomain, not the suffix
    itself), or by `*`."""
    name = _normal(host)
    for entry in (_normal(e) for e in allowed):
        if entry == "*" or entry == name or (entry.startswith("*.") and name.endswith(entry[1:])):
            return True
    return False


def wrapped_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries packets to, if it wraps one: IPv4-mapped, NAT64
    (the well-known /96 prefix), 6to4 (2002::/16) or Teredo (2001::/32, its client)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def is_internal(address: IpAddress) -> bool:
    """Not a public unicast address: private, loopback, link-local, reserved, shared (CGNAT),
    unspecified, multicast. An IPv6 address wrapping an IPv4 one (wrapped_ipv4) is internal
    when that IPv4 is; an IPv4-mapped one is judged by its IPv4 alone; NAT64's local-use
    prefix is internal whatever it wraps."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in NAT64_LOCAL_USE:
            return True
        wrapped = wrapped_ipv4(address)
        if address.ipv4_mapped is not None:
            return is_internal(address.ipv4_mapped)
        if wrapped is not None and is_internal(wrapped):
            return True
    return address.is_multicast or not address.is_global


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(_normal(host))
    except ValueError:
        return None


def host_refusal(host: str, allowed: Sequence[str]) -> str | None:
    """Why an endpoint on `host` is refused at registration, None when it is accepted."""
    if named_exactly(host, allowed):
        return None
    name = _normal(host)
    address = _literal(name)
    if name == "localhost" or name.endswith(".localhost") or (address is not None and is_internal(address)):
        return f"host {name} is an internal address"
    if not matches(name, allowed):
        return f"host {name} is not a Web Push service this node allows (push_webpush_hosts)"
    return None


def resolved_refusal(host: str, addresses: Iterable[str], allowed: Sequence[str]) -> str | None:
    """Why connecting to `host`, which resolved to `addresses`, is refused (a name that
    resolves inside the network: DNS rebinding), None when every address is public."""
    if named_exactly(host, allowed):
        return None
    internal = sorted({a for a in addresses if is_internal(ipaddress.ip_address(a.split("%")[0]))})
    if internal:
        return f"host {_normal(host)} resolves to internal address {internal[0]}"
    return None
