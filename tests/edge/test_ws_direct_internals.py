"""edge/ws_direct.py subclasses websockets' asyncio connection and relies on internals no
public API promises. These tests fail loudly, naming what moved, when an upgrade moves them;
pyproject.toml bounds websockets to the major version they were written against."""

from __future__ import annotations

import inspect
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

from websockets.asyncio import connection as ws_connection
from websockets.asyncio.messages import Assembler
from websockets.asyncio.server import ServerConnection
from websockets.server import ServerProtocol

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _source(name: str) -> str:
    return inspect.getsource(getattr(ws_connection.Connection, name))


def test_websockets_is_pinned_to_the_major_version_ws_direct_was_written_for() -> None:
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (spec,) = [d for d in deps if d.startswith("websockets")]
    bound = re.search(r"<\s*(\d+)", spec)
    assert bound is not None, f"websockets needs an upper bound in pyproject.toml: {spec!r}"
    floor = re.search(r">=\s*(\d+)", spec)
    assert floor is not None and int(bound.group(1)) == int(floor.group(1)) + 1, spec
    assert int(version("websockets").split(".")[0]) == int(floor.group(1))


def test_frames_reach_the_connection_through_process_event() -> None:
    """DirectServerConnection overrides process_event to take data frames before the Assembler."""
    assert "self.process_event(event)" in _source("data_received")
    assert "self.recv_messages.put(" in _source("process_event")
    # ServerConnection's own process_event (the handshake) hands the rest to Connection's.
    assert "super().process_event(event)" in inspect.getsource(ServerConnection.process_event)


def test_the_assembler_is_made_in_connection_made_and_only_closed_when_lost() -> None:
    """ws_direct swaps recv_messages after connection_made; connection_lost must call only close()."""
    assert "self.recv_messages = Assembler(" in _source("connection_made")
    lost = _source("connection_lost")
    assert set(re.findall(r"self\.recv_messages\.(\w+)", lost)) == {"close"}
    assert {"put", "get", "close"} <= set(vars(Assembler))


def test_drain_waiters_are_only_appended_removed_and_iterated() -> None:
    """ws_direct replaces the deque with a list: a deque-only method would break it."""
    source = inspect.getsource(ws_connection.Connection)
    uses = set(re.findall(r"self\.drain_waiters\.(\w+)", source))
    assert uses <= {"append", "remove"}, uses


def test_the_per_connection_logger_is_an_adapter_over_a_logger() -> None:
    """ws_direct unwraps protocol.logger when it is a LoggerAdapter; the attribute must still exist."""
    init = _source("__init__")
    assert "self.protocol.logger = logging.LoggerAdapter(" in init
    assert "self.logger" in init


def test_request_rcvd_is_used_only_until_the_request_arrives() -> None:
    """forget_handshake deletes request_rcvd: only the handshake may read it."""
    server_source = inspect.getsource(ServerConnection)
    uses = re.findall(r"self\.request_rcvd\b.*", server_source)
    assert len(uses) == 3, uses  # made in __init__, awaited in handshake, set when the request came
    assert "request_rcvd" not in inspect.getsource(ws_connection.Connection)


def test_the_protocol_keeps_a_class_level_subprotocol_chooser() -> None:
    """forget_handshake deletes the per-connection chooser; the class's method must remain."""
    assert callable(getattr(ServerProtocol, "select_subprotocol", None))
    init = inspect.getsource(ServerProtocol.__init__)
    assert re.search(r'setattr\(\s*self,\s*"select_subprotocol"', init), "set per instance no more?"


def test_connection_lost_settles_the_waiter_that_lost_returns() -> None:
    """ws_direct awaits connection_lost_waiter unshielded and revives it when cancelled."""
    assert "self.connection_lost_waiter.set_result(None)" in _source("connection_lost")
    assert "asyncio.shield(self.connection_lost_waiter)" in _source("wait_closed")
