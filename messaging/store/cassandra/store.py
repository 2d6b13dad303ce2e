"""A MessageStore with the message log and the cursors in Cassandra and the directory in
another store (SQLite on a node: docs/cassandra.md says why). The log moves the directory's
last seq and activity after its rows are durable and before the append returns (an ack)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kernel.errors import InvalidArgument, Unavailable
from kernel.message_log import HistoryDirection, MissedAsk
from kernel.partitions import DEFAULT_PARTITIONS
from kernel.push_targets import PushTarget, PushTargetStore
from messaging.config import CassandraOptions
from messaging.model import (
    AppendOutcome,
    Conversation,
    ConversationSummary,
    CursorChange,
    Cursors,
    CursorUpdate,
    DirectPeer,
    Member,
    NewMessage,
    PresenceRelations,
    Role,
    StoredMessage,
    User,
)
from messaging.store.cassandra import statements as cql
from messaging.store.cassandra.bridge import Bridge
from messaging.store.cassandra.cursors import CassandraCursors
from messaging.store.cassandra.log import CassandraLog
from messaging.store.cassandra.rows import Rows
from messaging.store.cassandra.session import CassandraSession, connect
from messaging.store.cassandra.statements import Prepared
from messaging.store.interface import LogDirectory, MessageStore
from messaging.store.read_budget import ReadBudget


@dataclass(frozen=True)
class OpenedLog:
    """The log and the cursors on one Cassandra session (closed with `close`)."""

    session: CassandraSession
    rows: Rows
    log: CassandraLog
    cursors: CassandraCursors

    @property
    def consistency(self) -> int:
        return self.session.consistency

    async def close(self) -> None:
        await asyncio.to_thread(self.session.close)


async def open_log(
    options: CassandraOptions, directory: LogDirectory, partitions: int = DEFAULT_PARTITIONS
) -> OpenedLog:
    """Connect and open the log over a migrated keyspace (P written on first open, checked
    after). Messaging's store and a partition-owning router's writer open it alike."""
    session = await connect(options)
    try:
        bridge = Bridge(
            session.session, max_in_flight=options.max_in_flight, timeout_s=options.request_timeout_s
        )
        prepared = Prepared(session.session, session.consistency)
        meta = await _meta(bridge, prepared, options.keyspace, partitions)
    except BaseException:
        await asyncio.to_thread(session.close)
        raise
    rows = Rows(
        bridge,
        prepared,
        options.keyspace,
        bucket_seqs=int(meta["bucket_seqs"]),
        ttl_s=options.retention_ttl_s,
        key_ttl_s=options.dedupe_ttl_s,
    )
    cursors = CassandraCursors(bridge, prepared, options.keyspace)
    log = CassandraLog(
        bridge, prepared, rows, cursors, directory,
        keyspace=options.keyspace, partitions=partitions, retention=options.retention_ttl_s > 0,
        cache_conversations=options.cache_conversations,
    )  # fmt: skip
    return OpenedLog(session, rows, log, cursors)


async def _meta(bridge: Bridge, prepared: Prepared, keyspace: str, partitions: int) -> dict[str, str]:
    """The facts stored with the data; P is written on first open and checked after."""
    unmigrated = f"cassandra keyspace {keyspace!r} is not migrated: run `hubbub store migrate`"
    try:
        meta = {r.key: r.value for r in await bridge.execute(cql.select_meta(keyspace))}
    except InvalidArgument:
        raise
    except Exception as exc:
        raise InvalidArgument(unmigrated) from exc
    if "bucket_seqs" not in meta:
        raise InvalidArgument(unmigrated)
    stored = meta.get("partitions")
    if stored is None:
        await bridge.execute(await prepared.get(cql.insert_meta(keyspace)), ("partitions", str(partitions)))
    elif int(stored) != partitions:
        raise InvalidArgument(
            f"partitions: the cassandra keyspace {keyspace!r} was created with {stored} partitions, "
            f"not {partitions} (P cannot change under existing data)"
        )
    return meta


class CassandraStore:
    """`directory`: the store that keeps users, conversations and membership (opened and
    closed with this one); its own log and cursors are not used."""

    def __init__(
        self, options: CassandraOptions, directory: MessageStore, *, partitions: int = DEFAULT_PARTITIONS
    ) -> None:
        self.options = options
        self._directory = directory
        self._partitions = partitions
        self._session: CassandraSession | None = None
        self._log: CassandraLog | None = None
        self._cursors: CassandraCursors | None = None
        self.rows: Rows | None = None
        self.consistency = 0
        """The consistency level every statement runs at (set on open)."""

    async def open(self) -> None:
        opened = await open_log(self.options, self._directory, self._partitions)
        try:
            await self._directory.open()
        except BaseException:
            await opened.close()
            raise
        self._session, self.rows, self.consistency = opened.session, opened.rows, opened.consistency
        self._log, self._cursors = opened.log, opened.cursors

    async def close(self) -> None:
        session, self._session = self._session, None
        try:
            await self._directory.close()
        finally:
            if session is not None:
                await asyncio.to_thread(session.close)

    @property
    def log(self) -> CassandraLog:
        if self._log is None:
            raise RuntimeError("CassandraStore is not open")
        return self._log

    @property
    def cursors(self) -> CassandraCursors:
        if self._cursors is None:
            raise RuntimeError("CassandraStore is not open")
        return self._cursors

    # --------------------------------------------------------------------- log
    async def append(self, messages: Sequence[NewMessage]) -> list[AppendOutcome]:
        return await self.log.append(messages)

    async def history(
        self,
        conversation_id: int,
        *,
        anchor_seq: int,
        direction: HistoryDirection,
        limit: int,
        newest_first: bool,
        max_bytes: int = 0,
    ) -> list[StoredMessage]:
        return await self.log.history(
            conversation_id,
            anchor_seq=anchor_seq,
            direction=direction,
            limit=limit,
            newest_first=newest_first,
            max_bytes=max_bytes,
        )

    async def missed_messages(
        self,
        user_id: str,
        since: Mapping[int, int],
        limit: int,
        max_conversations: int,
        max_bytes: int = 0,
        max_pages: int = 0,
    ) -> list[tuple[int, list[StoredMessage]]]:
        return await self.log.missed_messages(user_id, since, limit, max_conversations, max_bytes, max_pages)

    async def missed_messages_many(
        self,
        asks: Sequence[MissedAsk],
        max_conversations: int,
        max_bytes: int = 0,
        max_pages: int = 0,
        max_total_bytes: int = 0,
    ) -> list[list[tuple[int, list[StoredMessage]]]]:
        return await self.log.missed_messages_many(
            asks, max_conversations, max_bytes, max_pages, max_total_bytes
        )

    async def last_seq(self, conversation_id: int) -> int:
        return await self.log.last_seq(conversation_id)

    async def original(self, sender_id: str, client_msg_id: str) -> StoredMessage | None:
        return await self.log.original(sender_id, client_msg_id)

    async def seal(self, partitions: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        return await self.log.seal(partitions)

    async def sealed_epoch(self, partition: int) -> int:
        return await self.log.sealed_epoch(partition)

    # ----------------------------------------------------------------- cursors
    async def advance_cursors(self, updates: Sequence[CursorUpdate]) -> list[CursorChange]:
        return await self.cursors.advance_cursors(updates)

    async def get_cursors(self, user_id: str, conversation_id: int) -> Cursors:
        return await self.cursors.get_cursors(user_id, conversation_id)

    async def all_cursors(self, conversation_id: int) -> list[Cursors]:
        return await self.cursors.all_cursors(conversation_id)

    # --------------------------------------------------------------- directory
    async def create_user(self, user: User) -> None:
        await self._directory.create_user(user)

    async def get_user(self, user_id: str) -> User | None:
        return await self._directory.get_user(user_id)

    async def update_display_name(self, user_id: str, display_name: str) -> User | None:
        return await self._directory.update_display_name(user_id, display_name)

    async def add_contact(self, owner_id: str, contact_id: str) -> None:
        await self._directory.add_contact(owner_id, contact_id)

    async def remove_contact(self, owner_id: str, contact_id: str) -> None:
        await self._directory.remove_contact(owner_id, contact_id)

    async def list_contacts(self, owner_id: str) -> list[str]:
        return await self._directory.list_contacts(owner_id)

    async def contact_of(self, user_id: str) -> list[str]:
        return await self._directory.contact_of(user_id)

    async def token_generations(self, user_ids: Sequence[str]) -> dict[str, int]:
        return await self._directory.token_generations(user_ids)

    async def bump_token_generation(self, user_id: str) -> int | None:
        return await self._directory.bump_token_generation(user_id)

    async def get_or_create_direct(
        self, user_a: str, user_b: str, conversation_id: int, now_ms: int
    ) -> tuple[Conversation, bool]:
        return await self._directory.get_or_create_direct(user_a, user_b, conversation_id, now_ms)

    async def create_group(self, conversation: Conversation, members: Sequence[Member]) -> None:
        await self._directory.create_group(conversation, members)

    async def get_conversation(self, conversation_id: int) -> Conversation | None:
        return await self._directory.get_conversation(conversation_id)

    async def record_appends(self, heads: Mapping[int, tuple[int, int]]) -> None:
        await self._directory.record_appends(heads)

    async def get_members(self, conversation_id: int) -> list[Member]:
        return await self._directory.get_members(conversation_id)

    async def add_members(self, conversation_id: int, members: Sequence[Member]) -> list[Member]:
        return await self._directory.add_members(conversation_id, members)

    async def remove_member(self, conversation_id: int, user_id: str) -> bool:
        return await self._directory.remove_member(conversation_id, user_id)

    async def set_role(self, conversation_id: int, user_id: str, role: Role) -> bool:
        return await self._directory.set_role(conversation_id, user_id, role)

    async def rename(self, conversation_id: int, title: str) -> bool:
        return await self._directory.rename(conversation_id, title)

    async def direct_peers(self, user_id: str) -> list[DirectPeer]:
        return await self._directory.direct_peers(user_id)

    async def presence_relations(self, user_ids: Sequence[str]) -> list[PresenceRelations]:
        return await self._directory.presence_relations(user_ids)

    # ------------------------------------------------ push targets: kept by the directory
    def _push_store(self) -> PushTargetStore:
        if not isinstance(self._directory, PushTargetStore):
            raise Unavailable("this store's directory keeps no push targets")
        return self._directory

    async def put_push_target(self, target: PushTarget, max_per_user: int) -> bool:
        return await self._push_store().put_push_target(target, max_per_user)

    async def push_targets(self, user_ids: Sequence[str]) -> list[PushTarget]:
        return await self._push_store().push_targets(user_ids)

    async def delete_push_target(self, user_id: str, device_id: str) -> bool:
        return await self._push_store().delete_push_target(user_id, device_id)

    async def remove_gone_push_target(self, target: PushTarget) -> bool:
        return await self._push_store().remove_gone_push_target(target)

    async def list_conversations(
        self,
        user_id: str,
        limit: int,
        before_activity_ms: int = 0,
        before_conversation_id: int = 0,
        max_bytes: int = 0,
    ) -> list[ConversationSummary]:
        """The directory's page (order, last seq), with the last message and cursors from here."""
        listed = await self._directory.list_conversations(
            user_id, limit, before_activity_ms, before_conversation_id
        )

        async def summary(row: ConversationSummary) -> ConversationSummary:
            conversation = row.conversation
            cid = conversation.conversation_id
            last: StoredMessage | None = None
            if conversation.last_seq > 0:
                rows = self.log_rows()
                last = await rows.at(cid, conversation.last_seq, await rows.fences(cid))
            cursors = await self.cursors.get_cursors(user_id, cid)
            return ConversationSummary(conversation, last, cursors, row.peer_id)

        summaries = await asyncio.gather(*(summary(row) for row in listed))
        return ReadBudget(max_bytes).take_summaries(summaries)

    def log_rows(self) -> Rows:
        if self.rows is None:
            raise RuntimeError("CassandraStore is not open")
        return self.rows
