"""`hubbub up --ready-json` started as a child process on free ports, its ready line read: the
one helper of every test that runs the real command (signals, uvloop, its child processes)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FREE_PORTS = ("--ws-port", "0", "--gateway-port", "0", "--discovery-port", "0")
STOP_WAIT_S = 30.0


@dataclass(frozen=True)
class HubbubChild:
    proc: asyncio.subprocess.Process
    ready: dict[str, Any]
    """The `--ready-json` line: ws_url, gateway_target, web_url, metrics, ..."""

    @property
    def ws_url(self) -> str:
        return str(self.ready["ws_url"])

    def kill_9(self) -> None:
        """SIGKILL to the node and every process it started (its own process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    async def stop(self) -> int:
        """SIGTERM, as a person's Ctrl-C or a supervisor would: its exit status."""
        self.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOP_WAIT_S):
            return await self.proc.wait()


@contextlib.asynccontextmanager
async def hubbub_up(
    data_dir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    stderr: int | None = None,
    ready_within_s: float = 60.0,
    graceful_exit: bool = False,
) -> AsyncIterator[HubbubChild]:
    """`hubbub up --ready-json --data-dir DATA_DIR` on free ports, then `args` (which may
    override them); `env` replaces the environment (default: this one). On leaving, a node
    still running is killed with its process group (SIGTERM first when `graceful_exit`: it
    flushes what it exports)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.cli", "up", "--ready-json", "--data-dir", str(data_dir), *FREE_PORTS,
        *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=stderr, start_new_session=True,
        env=dict(os.environ if env is None else env),
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(ready_within_s):
            line = await proc.stdout.readline()
        assert line, "hubbub up exited before it was ready"
        yield HubbubChild(proc, json.loads(line))
    finally:
        if proc.returncode is None and graceful_exit:
            with contextlib.suppress(TimeoutError, ProcessLookupError):
                await HubbubChild(proc, {}).stop()
        if proc.returncode is None:
            HubbubChild(proc, {}).kill_9()
            await proc.wait()
