"""Issue 7 finding 5 and finding 1's SIGTERM: secrets never reach argv or a child's environment,
internal services refuse callers without the deployment's internal secret, and SIGTERM stops
every child of `hubbub up` (also a wedged one, also during start-up)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import psutil
import pytest

from kernel.clock import SystemClock
from kernel.grpc_server import insecure_channel
from kernel.tokens import verify_token
from protos import client_pb2 as pb
from protos import discovery_pb2, discovery_pb2_grpc, messaging_pb2, messaging_pb2_grpc
from tests.e2e.wire_client import WireClient

ROOT = Path(__file__).resolve().parents[2]
TOKEN_SECRET = "token-secret-that-must-not-leak-0123456789"
INTERNAL_SECRET = "internal-secret-that-must-not-leak-9876543210"


def _gone(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (a zombie has exited; its parent reaps it)."""
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


async def _start_up(
    tmp_path: Path, *, secrets_in_env: bool = True, stderr: int | None = None, extra: tuple[str, ...] = ()
) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if k not in ("HUBBUB_TOKEN_SECRET", "HUBBUB_INTERNAL_SECRET")}
    if secrets_in_env:
        env.update(HUBBUB_TOKEN_SECRET=TOKEN_SECRET, HUBBUB_INTERNAL_SECRET=INTERNAL_SECRET)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.cli", "up", "--ready-json", "--data-dir", str(tmp_path / "data"),
        "--ws-port", "0", "--gateway-port", "0", "--discovery-port", "0", "--processes", "edge/messaging",
        *extra, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=stderr, env=env,
    )  # fmt: skip


@pytest.fixture
async def up(tmp_path: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, str]]]:
    proc = await _start_up(tmp_path)
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(60):
            ready = json.loads(await proc.stdout.readline())
        yield proc, ready
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _listed(discovery_target: str, kind: int) -> list[discovery_pb2.Node]:
    """The node listing, which is for the deployment: refused to a client, and even with the
    internal secret it holds no secret (only addresses, which open nothing)."""
    async with insecure_channel(discovery_target) as channel:
        stub = discovery_pb2_grpc.DiscoveryStub(channel)
        for call in (
            stub.ListNodes(discovery_pb2.ListNodesRequest()),
            stub.SetDraining(discovery_pb2.SetDrainingRequest(node_id="edge-1", draining=True)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assignment = await stub.AssignEdge(discovery_pb2.AssignEdgeRequest(user_id="bob"))  # clients'
        assert assignment.edge.ws_url and not assignment.edge.draining
    async with insecure_channel(discovery_target, INTERNAL_SECRET) as channel:
        listing = await discovery_pb2_grpc.DiscoveryStub(channel).ListNodes(discovery_pb2.ListNodesRequest())
    assert TOKEN_SECRET.encode() not in listing.SerializeToString()
    assert INTERNAL_SECRET.encode() not in listing.SerializeToString()
    return [n for n in listing.nodes if n.kind == kind]


async def test_no_secret_in_any_command_line_or_child_environment(
    up: tuple[asyncio.subprocess.Process, dict[str, str]],
) -> None:
    proc, _ = up
    children = psutil.Process(proc.pid).children()
    assert len(children) == 2
    for child in children:
        cmdline = await asyncio.to_thread(Path(f"/proc/{child.pid}/cmdline").read_bytes)
        environ = await asyncio.to_thread(Path(f"/proc/{child.pid}/environ").read_bytes)
        for secret in (TOKEN_SECRET, INTERNAL_SECRET):
            assert secret.encode() not in cmdline
            assert secret.encode() not in environ
    parent_cmdline = await asyncio.to_thread(Path(f"/proc/{proc.pid}/cmdline").read_bytes)
    assert TOKEN_SECRET.encode() not in parent_cmdline


async def test_internal_services_refuse_callers_without_the_internal_secret(
    up: tuple[asyncio.subprocess.Process, dict[str, str]],
) -> None:
    """The attack of finding 5: Messaging.History for another user's conversation, with the
    address discovery lists. Refused UNAUTHENTICATED; the node's own secret opens it."""
    _, ready = up
    alice = await WireClient.sign_up(ready["ws_url"], "alice")
    bob = await WireClient.sign_up(ready["ws_url"], "bob")
    reply = await alice.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
    conv = reply.conversation.conversation_id
    await alice.send_text(conv, "private", "p-1")
    (messaging,) = await _listed(ready["discovery_target"], discovery_pb2.NODE_KIND_MESSAGING)
    request = messaging_pb2.HistoryRequest(user_id="bob", query=pb.FetchHistory(conversation_id=conv))

    for secret in ("", "not-the-secret", TOKEN_SECRET):  # a forged token's secret opens nothing
        async with insecure_channel(messaging.grpc_target, secret) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await messaging_pb2_grpc.MessagingStub(channel).History(request)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "private" not in (refused.value.details() or "")

    async with insecure_channel(messaging.grpc_target, INTERNAL_SECRET) as channel:
        page = await messaging_pb2_grpc.MessagingStub(channel).History(request)
    assert [m.body for m in page.messages] == ["private"]
    # Clients are still served: the edge's faces stay open to them.
    pong = await bob.request(pb.ClientFrame(ping=pb.Ping()))
    assert pong.WhichOneof("kind") == "pong"
    for c in (alice, bob):
        await c.close()


async def test_sigterm_stops_every_child(up: tuple[asyncio.subprocess.Process, dict[str, str]]) -> None:
    proc, _ = up
    children = psutil.Process(proc.pid).children()
    assert len(children) == 2
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        assert await proc.wait() == 0
    assert _gone(children) == []


async def test_sigterm_stops_a_wedged_child_too(
    up: tuple[asyncio.subprocess.Process, dict[str, str]],
) -> None:
    """A child that cannot act on SIGTERM (stopped here; wedged in the field) is killed after
    the grace period."""
    proc, _ = up
    children = psutil.Process(proc.pid).children()
    for child in children:
        child.suspend()  # SIGSTOP: it cannot run its SIGTERM handler
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(60):
        assert await proc.wait() == 0
    assert _gone(children) == []


async def test_sigterm_during_start_up_leaves_no_child(tmp_path: Path) -> None:
    proc = await _start_up(tmp_path, secrets_in_env=False, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(60):
            while b"child process" not in await proc.stderr.readline():  # the first is starting
                pass
        children = psutil.Process(proc.pid).children()
        assert children
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            await proc.communicate()
        assert proc.returncode == 0
        assert _gone(children) == []
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_the_admin_cli_reads_the_generated_internal_secret_from_the_data_dir(tmp_path: Path) -> None:
    """Without a configured internal secret one is generated at start-up; `hubbub discovery`
    finds it in the data dir (a 0600 file), never on a command line."""
    proc = await _start_up(tmp_path, secrets_in_env=False)
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(60):
            ready = json.loads(await proc.stdout.readline())
        secret_file = tmp_path / "data" / "internal_secret"
        assert secret_file.stat().st_mode & 0o777 == 0o600
        env = {k: v for k, v in os.environ.items() if k != "HUBBUB_INTERNAL_SECRET"}
        admin = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "deploy.cli", "discovery", "--target", ready["discovery_target"],
            "--data-dir", str(tmp_path / "data"), "nodes",
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        async with asyncio.timeout(60):
            out, _ = await admin.communicate()
        assert admin.returncode == 0 and b"edge-1" in out
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                await proc.wait()


async def test_secrets_given_as_files_are_used_and_never_on_a_command_line(tmp_path: Path) -> None:
    """`--token-secret-file` / `--internal-secret-file` (a value flag is refused: test_cli):
    the node signs tokens with the file's secret, and no process shows either secret."""
    token_file, internal_file = tmp_path / "token", tmp_path / "internal"
    token_file.write_text(TOKEN_SECRET + "\n")
    internal_file.write_text(INTERNAL_SECRET + "\n")
    files = ("--token-secret-file", str(token_file), "--internal-secret-file", str(internal_file))
    proc = await _start_up(tmp_path, secrets_in_env=False, extra=files)
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(60):
            ready = json.loads(await proc.stdout.readline())
        (example,) = [
            line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith('{"ws_url"')
        ]
        assert set(ready) == set(json.loads(example)), "the README documents every --ready-json key"
        alice = await WireClient.sign_up(ready["ws_url"], "alice")
        assert verify_token(TOKEN_SECRET, alice.welcome.token, SystemClock().now_ms()).user_id == "alice"
        await alice.close()
        await _listed(ready["discovery_target"], discovery_pb2.NODE_KIND_EDGE)  # opened by the file's secret
        for pid in (proc.pid, *(child.pid for child in psutil.Process(proc.pid).children())):
            cmdline = await asyncio.to_thread(Path(f"/proc/{pid}/cmdline").read_bytes)
            for secret in (TOKEN_SECRET, INTERNAL_SECRET):
                assert secret.encode() not in cmdline
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                await proc.wait()
