"""Apply the Cassandra schema's migrations (NNN_name.cql beside this file) in order, once each.

CQL 3.0 has no IF NOT EXISTS, so a statement whose table or keyspace exists already is
skipped: a migration cut short (a lost connection) is finished by running migrate again. The
applied versions are kept in the keyspace's `schema_migrations`; `bucket_seqs` in its meta."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import re
import time
from collections.abc import Mapping
from pathlib import Path
from string import Template

from cassandra import AlreadyExists

from kernel.config import from_env
from kernel.errors import HubbubError, InvalidArgument
from messaging.config import CassandraOptions, MessagingConfig, parse_hosts
from messaging.store.cassandra.bridge import Bridge
from messaging.store.cassandra.session import connect

HERE = Path(__file__).parent
DEFAULT_BUCKET_SEQS = 10_000
"""Messages per (conversation, bucket) partition: 10,000 rows of at most ~100 KB stay well
within a partition's comfortable size, and "the 50 newest" rarely spans two buckets."""


def migrations() -> list[tuple[int, str, Path]]:
    found = []
    for path in sorted(HERE.glob("*.cql")):
        match = re.fullmatch(r"(\d+)_(\w+)\.cql", path.name)
        if match:
            found.append((int(match[1]), match[2], path))
    return found


def statements(text: str) -> list[str]:
    """The statements of a .cql file: `--` comments dropped, split at `;`."""
    lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def replication_map(datacenters: Mapping[str, int]) -> str:
    pairs = ", ".join(f"'{dc}': {factor}" for dc, factor in datacenters.items())
    return "{'class': 'NetworkTopologyStrategy', " + pairs + "}"


def _applied_before(exc: HubbubError) -> bool:
    """A statement an interrupted run applied already: its table exists, or its added column."""
    cause = exc.__cause__
    return isinstance(cause, AlreadyExists) or "conflicts with an existing column" in str(cause)


async def _applied(bridge: Bridge, keyspace: str) -> set[int]:
    try:
        return {r.version for r in await bridge.execute(f"SELECT version FROM {keyspace}.schema_migrations")}
    except HubbubError:  # no keyspace or table yet
        return set()


async def migrate(
    options: CassandraOptions, datacenters: Mapping[str, int], *, bucket_seqs: int = DEFAULT_BUCKET_SEQS
) -> list[str]:
    """Apply what is not applied yet; returns the names applied."""
    if bucket_seqs < 1:
        raise InvalidArgument("bucket_seqs must be at least 1")
    session = await connect(options)
    try:
        bridge = Bridge(session.session, max_in_flight=1, timeout_s=max(options.request_timeout_s, 30.0))
        keyspace = options.keyspace
        done = await _applied(bridge, keyspace)
        names = []
        fill = {"keyspace": keyspace, "replication": replication_map(datacenters)}
        for version, name, path in migrations():
            if version in done:
                continue
            for statement in statements(Template(path.read_text()).substitute(fill)):
                try:
                    await bridge.execute(statement)
                except HubbubError as exc:
                    if not _applied_before(exc):
                        raise
            await bridge.execute(
                f"INSERT INTO {keyspace}.schema_migrations (version, name, applied_at_ms) "
                f"VALUES ({version}, '{name}', {int(time.time() * 1000)})"
            )
            names.append(f"{version:03d}_{name}")
        meta = {r.key: r.value for r in await bridge.execute(f"SELECT key, value FROM {keyspace}.meta")}
        if "bucket_seqs" not in meta:
            await bridge.execute(
                f"INSERT INTO {keyspace}.meta (key, value) VALUES ('bucket_seqs', '{bucket_seqs}')"
            )
        return names
    finally:
        await asyncio.to_thread(session.close)


def parse_datacenters(raw: str) -> dict[str, int]:
    """ "dc1:3,dc2:3" -> {"dc1": 3, "dc2": 3}."""
    found: dict[str, int] = {}
    for item in (part.strip() for part in raw.split(",") if part.strip()):
        dc, _, factor = item.partition(":")
        if not re.fullmatch(r"[\w.-]+", dc) or not factor.isdigit() or int(factor) < 1:
            raise InvalidArgument(f"--replication: expected DC:FACTOR,..., got {raw!r}")
        found[dc] = int(factor)
    if not found:
        raise InvalidArgument("--replication must name at least one data centre")
    return found


def main(argv: list[str] | None = None, prog: str = "hubbub store") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="the Cassandra message store's schema")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("migrate", help="create or migrate the keyspace (docs/cassandra.md)")
    run.add_argument(
        "--cassandra-hosts", default="127.0.0.1:9042", help="HOST[:PORT],... (default %(default)s)"
    )
    run.add_argument("--cassandra-keyspace", default="hubbub", help="keyspace (default %(default)s)")
    run.add_argument(
        "--replication",
        default="datacenter1:1",
        help="NetworkTopologyStrategy DC:FACTOR,... (default %(default)s)",
    )
    run.add_argument(
        "--bucket-seqs", type=int, default=DEFAULT_BUCKET_SEQS, help="messages per bucket, fixed once set"
    )
    run.add_argument(
        "--protocol-version", type=int, default=0, help="native protocol; 0 negotiates, 1 for Cassandra 1.2"
    )
    args = parser.parse_args(argv)
    try:
        # Credentials and TLS as messaging reads them (HUBBUB_CASSANDRA_USERNAME / _PASSWORD /
        # _TLS_*: never flags, so no password shows in a process list).
        options = dataclasses.replace(
            from_env(MessagingConfig).cassandra(),
            hosts=parse_hosts(args.cassandra_hosts),
            keyspace=args.cassandra_keyspace,
            protocol_version=args.protocol_version,
        )
        if not options.keyspace.isidentifier():
            raise InvalidArgument("--cassandra-keyspace must be a CQL identifier")
        applied = asyncio.run(
            migrate(options, parse_datacenters(args.replication), bucket_seqs=args.bucket_seqs)
        )
    except HubbubError as exc:
        print(f"{prog} migrate: {exc.code}: {exc.message}")
        return 2 if isinstance(exc, InvalidArgument) else 1
    print(
        f"{prog} migrate: keyspace {options.keyspace}: " + (", ".join(applied) if applied else "up to date")
    )
    return 0
