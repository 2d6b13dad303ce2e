"""Directory contract on every backend."""

from __future__ import annotations

from tests.messaging.store.contract_directory import DirectoryContract


class TestDirectoryContract(DirectoryContract):
    pass
