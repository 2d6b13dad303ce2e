"""Log contract on every backend."""

from __future__ import annotations

from tests.messaging.store.contract_deletion import DeletionContract
from tests.messaging.store.contract_log import LogContract


class TestLogContract(LogContract):
    pass


class TestDeletionContract(DeletionContract):
    pass
