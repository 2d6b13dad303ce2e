"""The SQLite store's schema as an ordered list of migrations, applied on open.

The applied count lives in `PRAGMA user_version`; a new step is appended, never edited.
"""

from __future__ import annotations

import sqlite3

from kernel.errors import InvalidArgument

# Each step runs in one transaction; step i brings user_version from i to i + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE users (
            user_id TEXT PRIMARY KEY,
            display_name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at_ms INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE contacts (
            owner_id TEXT NOT NULL,
            contact_id TEXT NOT NULL,
            PRIMARY KEY (owner_id, contact_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX contacts_by_contact ON contacts (contact_id, owner_id)",
        """CREATE TABLE conversations (
            conversation_id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at_ms INTEGER NOT NULL,
            last_seq INTEGER NOT NULL DEFAULT 0,
            last_activity_ms INTEGER NOT NULL DEFAULT 0
        )""",
        # One row per unordered pair (user_lo <= user_hi): makes direct conversations unique.
        """CREATE TABLE direct_pairs (
            user_lo TEXT NOT NULL,
            user_hi TEXT NOT NULL,
            conversation_id INTEGER NOT NULL,
            PRIMARY KEY (user_lo, user_hi)
        ) WITHOUT ROWID""",
        """CREATE TABLE members (
            conversation_id INTEGER NOT NULL,
            user_id TEXT NOT NULL,
            role INTEGER NOT NULL,
            joined_at_ms INTEGER NOT NULL,
            PRIMARY KEY (conversation_id, user_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX members_by_user ON members (user_id, conversation_id)",
        # Rowid table: bodies may be large (100k chars), which WITHOUT ROWID handles badly.
        """CREATE TABLE messages (
            conversation_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            message_id INTEGER NOT NULL,
            sender_id TEXT NOT NULL,
            sender_device TEXT NOT NULL,
            client_msg_id TEXT NOT NULL,
            content_type TEXT NOT NULL,
            body TEXT NOT NULL,
            payload BLOB NOT NULL,
            sent_at_ms INTEGER NOT NULL
        )""",
        "CREATE UNIQUE INDEX messages_by_seq ON messages (conversation_id, seq)",
        "CREATE UNIQUE INDEX messages_dedupe ON messages (sender_id, client_msg_id)",
        """CREATE TABLE cursors (
            conversation_id INTEGER NOT NULL,
            user_id TEXT NOT NULL,
            delivered_seq INTEGER NOT NULL DEFAULT 0,
            read_seq INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (conversation_id, user_id)
        ) WITHOUT ROWID""",
    ),
    (  # 2: per-user token generation ("log out everywhere"); no row = generation 0
        """CREATE TABLE token_generations (
            user_id TEXT PRIMARY KEY,
            generation INTEGER NOT NULL
        ) WITHOUT ROWID""",
    ),
    (  # 3: fencing. Each message row keeps its writer's epoch, and the epoch is part of its
        # key, so two owners never write the same row (docs/architecture.md); the highest epoch
        # sealed per partition; P and other facts stored with the data.
        "ALTER TABLE messages ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0",
        "DROP INDEX messages_by_seq",
        "CREATE UNIQUE INDEX messages_by_seq ON messages (conversation_id, seq, epoch)",
        """CREATE TABLE seals (
            partition INTEGER PRIMARY KEY,
            epoch INTEGER NOT NULL
        )""",
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) WITHOUT ROWID""",
    ),
    (  # 4: attachments. A message's MediaRef (serialized protobuf), empty when it has none.
        "ALTER TABLE messages ADD COLUMN media BLOB NOT NULL DEFAULT x''",
    ),
    (  # 5: push targets, one per (user, device) (kernel/push_targets.py, docs/push.md)
        """CREATE TABLE push_targets (
            user_id TEXT NOT NULL,
            device_id TEXT NOT NULL,
            service TEXT NOT NULL,
            token TEXT NOT NULL,
            apns_topic TEXT NOT NULL,
            apns_sandbox INTEGER NOT NULL,
            p256dh TEXT NOT NULL,
            auth TEXT NOT NULL,
            created_at_ms INTEGER NOT NULL,
            PRIMARY KEY (user_id, device_id)
        ) WITHOUT ROWID""",
    ),
    (  # 6: who has opened each direct chat (presence is shared once both have); pairs from
        # before this step keep the mutual visibility they had. Peers are found from either side.
        "ALTER TABLE direct_pairs ADD COLUMN lo_opened INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE direct_pairs ADD COLUMN hi_opened INTEGER NOT NULL DEFAULT 1",
        "CREATE INDEX direct_pairs_by_hi ON direct_pairs (user_hi, user_lo)",
    ),
    (  # 7: deleting a message for everyone. A deletion entry names the seq it deleted (0 for a
        # message); the deleted message keeps its row, its content erased, naming its entry's seq
        # (messaging/deletion.py).
        "ALTER TABLE messages ADD COLUMN deletes_seq INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE messages ADD COLUMN deleted_by_seq INTEGER NOT NULL DEFAULT 0",
    ),
    # 8 (PUSH_TOKEN_UNIQUE_STEP): one holder per (service, token), the newest registration of
    # a token winning (a reinstall, a device handed to another user).
    (
        """DELETE FROM push_targets WHERE EXISTS (
            SELECT 1 FROM push_targets AS newer
            WHERE newer.service = push_targets.service AND newer.token = push_targets.token
            AND (newer.created_at_ms, newer.user_id, newer.device_id)
                > (push_targets.created_at_ms, push_targets.user_id, push_targets.device_id)
        )""",
        "CREATE UNIQUE INDEX push_targets_by_token ON push_targets (service, token)",
    ),
)
PUSH_TOKEN_UNIQUE_STEP = 8
"""The step number of the (service, token) index: MIGRATIONS[PUSH_TOKEN_UNIQUE_STEP - 1]."""


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the steps not yet applied, each atomically; returns the resulting version.

    `conn` must be in autocommit mode (isolation_level=None) so the transactions are ours.
    """
    version = schema_version(conn)
    if version > len(MIGRATIONS):
        raise RuntimeError(f"database schema version {version} is newer than this code ({len(MIGRATIONS)})")
    for target in range(version + 1, len(MIGRATIONS) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[target - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return len(MIGRATIONS)


def check_partitions(conn: sqlite3.Connection, partitions: int, where: str) -> None:
    """P is stored with the data on first start; a later start with another P is refused
    (every partition, seal and epoch would silently mean something else)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'partitions'").fetchone()
    if row is None:
        conn.execute("INSERT INTO meta (key, value) VALUES ('partitions', ?)", (str(partitions),))
        return
    if int(row[0]) != partitions:
        raise InvalidArgument(
            f"messaging partitions is {partitions} but the store at {where} was created with "
            f"partitions={int(row[0])}: P cannot change under existing data "
            f"(set partitions / HUBBUB_PARTITIONS back to {int(row[0])})"
        )
