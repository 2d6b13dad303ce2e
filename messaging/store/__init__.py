"""Message store backends behind three interfaces (messaging/store/interface.py): the message
log (kernel/message_log.py), cursors and the directory; `MessageStore` is all three over one
database. SQLite (embedded default) and memory; Cassandra for the cluster. Every backend
passes the contract suites tests/messaging/store/contract_{log,cursors,directory}.py."""

from messaging.store.interface import CursorStore, Directory, MessageLog, MessageStore

__all__ = ["CursorStore", "Directory", "MessageLog", "MessageStore"]
