"""A TCP proxy that a test can cut: one client's link to a server (ZooKeeper) goes down while
the server and every other client carry on, as a network partition of one process would.

`cut()` drops the open connections and refuses new ones (accepted, then closed at once);
`mend()` lets connections through again. Upstreams are tried in turn, so a proxy in front of
an ensemble follows it through a node's death. Threads, not asyncio: kazoo clients on any
event loop (or none) can use it.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from collections.abc import Sequence

BUFFER = 65536


class CuttableProxy:
    def __init__(self, upstreams: Sequence[tuple[str, int]], host: str = "127.0.0.1") -> None:
        self._upstreams = list(upstreams)
        self._turn = itertools.cycle(range(len(self._upstreams)))
        self._listener = socket.create_server((host, 0))
        self.address = f"{host}:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        self._closed = False
        threading.Thread(target=self._accept, name=f"proxy {self.address}", daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def mend(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            upstream = None if self._cut else self._connect()
            if upstream is None:
                downstream.close()
                continue
            with self._lock:
                self._open.update((downstream, upstream))
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _connect(self) -> socket.socket | None:
        for _ in self._upstreams:
            host, port = self._upstreams[next(self._turn)]
            with contextlib.suppress(OSError):
                return socket.create_connection((host, port), timeout=1.0)
        return None

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            source.settimeout(None)
            while data := source.recv(BUFFER):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with self._lock:
            for sock in (source, sink):
                if sock in self._open:
                    self._open.discard(sock)
                    sock.close()
