"""Cursors contract on every backend."""

from __future__ import annotations

from tests.messaging.store.contract_cursors import CursorsContract


class TestCursorsContract(CursorsContract):
    pass
