"""Message store backends behind one interface (`MessageStore`): SQLite (embedded default);
Cassandra for the cluster. Every backend passes tests/messaging/store/contract.py."""

from messaging.store.interface import MessageStore

__all__ = ["MessageStore"]
