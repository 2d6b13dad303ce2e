"""Which hosts a Web Push endpoint may name (kernel/webpush_hosts.py): the allow-list, and no
internal address through a pattern, whether literal or resolved."""

from __future__ import annotations

import pytest

from kernel.webpush_hosts import DEFAULT_WEBPUSH_HOSTS, host_refusal, resolved_refusal


@pytest.mark.parametrize(
    "host",
    [
        "fcm.googleapis.com",
        "updates.push.services.mozilla.com",
        "wns2-par02p.notify.windows.com",
        "web.push.apple.com",
        "FCM.googleapis.com.",
    ],
)
def test_the_browsers_push_services_are_allowed_by_default(host: str) -> None:
    assert host_refusal(host, DEFAULT_WEBPUSH_HOSTS) is None


@pytest.mark.parametrize(
    "host", ["evil.example", "notify.windows.com", "googleapis.com", "fcm.googleapis.com.evil.example", ""]
)
def test_other_hosts_are_refused_by_default(host: str) -> None:
    assert "not a Web Push service" in (host_refusal(host, DEFAULT_WEBPUSH_HOSTS) or "")


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "a.localhost",
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # the cloud metadata service
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata service
        "64:ff9b:1::7f00:1",  # local-use NAT64 of 127.0.0.1
        "64:ff9b:1:a00:0:100:808:808",  # local-use /48 NAT64 of 10.0.0.1, its suffix crafted to 8.8.8.8
        "64:ff9b:1::808:808",  # local-use: an operator's own translator, internal whatever it wraps
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
        "240.0.0.1",
        "224.0.0.1",
    ],
)
def test_a_pattern_never_admits_an_internal_address(host: str) -> None:
    assert "internal" in (host_refusal(host, ("*",)) or "")


def test_a_host_named_exactly_is_the_operators_choice() -> None:
    assert host_refusal("127.0.0.1", ("127.0.0.1",)) is None
    assert resolved_refusal("push.corp", ["10.0.0.7"], ("push.corp",)) is None


def test_a_name_resolving_inside_the_network_is_refused_through_a_pattern() -> None:
    assert resolved_refusal("a.rebind.test", ["93.184.215.14"], ("*.rebind.test",)) is None
    refusal = resolved_refusal("a.rebind.test", ["93.184.215.14", "127.0.0.1"], ("*.rebind.test",))
    assert refusal == "host a.rebind.test resolves to internal address 127.0.0.1"
    assert resolved_refusal("a.rebind.test", ["fe80::1%eth0"], ("*",)) is not None


@pytest.mark.parametrize("host", ["64:ff9b::808:808", "2002:808:808::1"])
def test_an_address_wrapping_a_public_ipv4_is_not_internal(host: str) -> None:
    """NAT64 (an IPv6-only network's DNS64 answers push services so) and 6to4 of 8.8.8.8."""
    assert host_refusal(host, ("*",)) is None
