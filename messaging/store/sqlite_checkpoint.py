"""Background WAL checkpoints for the SQLite store, so commits rarely pay for them.

The writer keeps a large auto-checkpoint threshold only as a backstop for WAL growth.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

# Pages of WAL after which the writer checkpoints on its own commit (about 64 MB at 4 KiB).
WRITER_BACKSTOP_PAGES = 16384


class Checkpointer:
    """Runs a PASSIVE checkpoint every `interval_s` on its own connection and thread.

    PASSIVE never blocks the writer or readers; it copies what it can. The writer restarts the
    WAL from the top once everything has been copied, which keeps the file (and fsyncs) small.
    """

    def __init__(self, path: Path, *, interval_s: float = 0.2) -> None:
        self._path = path
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="hubbub-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Blocking: call from a worker thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _main(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=1000")
            while not self._stop.wait(self._interval_s):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    continue  # the next round tries again; the writer's backstop bounds the WAL
                self.checkpoints += 1
        finally:
            conn.close()
