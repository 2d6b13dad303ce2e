"""Optional py-spy flame graphs of the server's process tree while a workload runs, so the
suite that measures the hot path also shows where its time goes (`hubbub bench suite --profile`).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

STOP_TIMEOUT_S = 60.0  # py-spy writes the flame graph after SIGINT; large profiles take a while


def py_spy_binary() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def flame_graph(pid: int, path: Path | None, rate: int = 100) -> Iterator[Path | None]:
    """Record `pid` and its children into an SVG at `path` (None, or no py-spy: do nothing); a
    path not ending in .svg gets py-spy's raw collapsed stacks instead, one line per stack.

    --nonblocking: the server is never paused, so figures stay comparable with unprofiled runs.
    """
    binary = py_spy_binary()
    if path is None or binary is None:
        yield None
        return
    command = [binary, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--rate", str(rate)]
    command += ["--format", "flamegraph" if path.suffix == ".svg" else "raw", "--output", str(path)]
    with open(path.with_suffix(".log"), "wb") as log:
        recorder = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield path
        finally:
            recorder.send_signal(signal.SIGINT)
            try:
                recorder.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                recorder.kill()
                recorder.wait()
