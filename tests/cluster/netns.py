"""A network namespace for one cluster process, so a test can cut that process off from some
servers while it still reaches the others: joined to this host by a veth pair on link-local
addresses, its TCP to the host's veth address forwarded to the host's loopback (where every
other process listens), and iptables inside it to drop what the test cuts. Needs root, `ip`
(iproute2) and `iptables` (./dev installs them); any step that fails raises NamespaceError
with the command's own words, and `network_namespace` removes all of it even when a test fails."""

from __future__ import annotations

import contextlib
import random
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from deploy.cluster.processes import ProcessSpec

LOOPBACK = "127.0.0.1"
TOOLS = ("ip", "iptables")


class NamespaceError(RuntimeError):
    """The namespace could not be set up or changed (not root, a tool missing, ...)."""


def run(*argv: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise NamespaceError(f"{' '.join(argv)}: {error}") from error
    if done.returncode != 0:
        raise NamespaceError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")


@dataclass
class Namespace:
    name: str
    host_veth: str
    host_address: str
    """The host's end of the veth: what the process inside dials to reach the host's loopback."""
    address: str
    """The process's own address inside, which the host reaches through the veth."""
    _cut_rules: list[list[str]] = field(default_factory=list)

    @property
    def prefix(self) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.name)

    def place(self, spec: ProcessSpec) -> ProcessSpec:
        """`spec` run inside: listening on the namespace's address and dialling the host's
        servers through the veth (every loopback address in its environment rewritten)."""
        env = {key: value.replace(LOOPBACK, self.host_address) for key, value in spec.env.items()}
        return replace(spec, env={**env, "HUBBUB_HOST": self.address}, prefix=self.prefix)

    def cut(self, ports: Sequence[int]) -> None:
        """Drop every packet from inside to these host ports (established connections too):
        the peer hears nothing, as behind a broken switch."""
        for port in ports:
            rule = ["OUTPUT", "-p", "tcp", "-d", self.host_address, "--dport", str(port), "-j", "DROP"]
            run(*self.prefix, "iptables", "-A", *rule)
            self._cut_rules.append(rule)

    def mend(self) -> None:
        while self._cut_rules:
            run(*self.prefix, "iptables", "-D", *self._cut_rules.pop())


def _forward_rule(namespace: Namespace) -> list[str]:
    return [
        "PREROUTING",
        "-t", "nat",
        "-i", namespace.host_veth,
        "-d", namespace.host_address,
        "-p", "tcp",
        "-j", "DNAT", "--to-destination", LOOPBACK,
    ]  # fmt: skip


@contextlib.contextmanager
def network_namespace() -> Iterator[Namespace]:
    """A fresh namespace and veth pair on a random link-local /30, removed on exit."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise NamespaceError(f"{', '.join(missing)} not installed (./dev installs iproute2 and iptables)")
    tag = uuid.uuid4().hex[:8]
    third, fourth = random.randint(1, 254), 4 * random.randint(0, 63)
    namespace = Namespace(
        f"hubbub-{tag}", f"hb{tag}", f"169.254.{third}.{fourth + 1}", f"169.254.{third}.{fourth + 2}"
    )
    inner = f"hb{tag}i"
    steps: list[tuple[str, ...]] = [
        ("ip", "netns", "add", namespace.name),
        ("ip", "link", "add", namespace.host_veth, "type", "veth", "peer", "name", inner),
        ("ip", "link", "set", inner, "netns", namespace.name),
        ("ip", "addr", "add", f"{namespace.host_address}/30", "dev", namespace.host_veth),
        ("ip", "link", "set", namespace.host_veth, "up"),
        (*namespace.prefix, "ip", "addr", "add", f"{namespace.address}/30", "dev", inner),
        (*namespace.prefix, "ip", "link", "set", inner, "up"),
        (*namespace.prefix, "ip", "link", "set", "lo", "up"),
    ]
    try:
        for step in steps:
            run(*step)
        # the host answers on its loopback for what arrives on this veth
        route_localnet = Path(f"/proc/sys/net/ipv4/conf/{namespace.host_veth}/route_localnet")
        try:
            route_localnet.write_text("1\n")
        except OSError as error:
            raise NamespaceError(f"cannot write {route_localnet}: {error}") from error
        run("iptables", "-A", *_forward_rule(namespace))
        yield namespace
    finally:
        with contextlib.suppress(NamespaceError):
            run("iptables", "-D", *_forward_rule(namespace))
        with contextlib.suppress(NamespaceError):
            run("ip", "link", "del", namespace.host_veth)  # its peer goes with it
        with contextlib.suppress(NamespaceError):
            run("ip", "netns", "del", namespace.name)
