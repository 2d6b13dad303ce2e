"""Logs a person (or a log store) can use: `--log-format json` writes one JSON object per
line, and a line about a connection names its session, user and device as fields."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

from kernel.logs import JsonFormatter
from tests.deploy.traced_node import hubbub_up_process
from tests.e2e.wire_client import WireClient


def test_a_json_line_carries_the_connection_fields_and_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "edge.connection", logging.ERROR, __file__, 1, "query %s failed", ("history",), None
        )
        record.exc_info = sys.exc_info()
    record.__dict__.update(session=7, user="alice", device="laptop", peer="127.0.0.1:5000")
    entry = json.loads(JsonFormatter("edge").format(record))
    assert entry["message"] == "query history failed"
    assert (entry["session"], entry["user"], entry["device"]) == (7, "alice", "laptop")
    assert entry["process"] == "edge" and entry["level"] == "ERROR"
    assert "ValueError: boom" in entry["exception"]


async def test_hubbub_up_log_format_json_names_the_session_in_every_process(tmp_path: Path) -> None:
    args = ("--log-format", "json", "--processes", "edge/messaging")  # three processes
    async with hubbub_up_process(tmp_path, *args, stderr=asyncio.subprocess.PIPE) as (proc, ready):
        alice = await WireClient.sign_up(ready["ws_url"], "alice", device_id="laptop")
        await alice.close()
        assert proc.stderr is not None
        processes: set[str] = set()
        async with asyncio.timeout(30):
            while True:
                line = await proc.stderr.readline()
                assert line, "hubbub up's log ended before the session's lines"
                entry = json.loads(line)  # every line is one JSON object
                processes.add(entry["process"])
                if entry["message"].startswith("session closed"):
                    break
    assert entry["process"] == "edge" and entry["logger"] == "edge.connection"
    assert (entry["user"], entry["device"]) == ("alice", "laptop")
    assert isinstance(entry["session"], int)
    assert {"presence+router", "edge", "messaging"} <= processes  # the children log JSON too
