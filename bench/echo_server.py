"""The baseline's server: a bare `websockets` echo server (uvloop, compression off), the
ceiling a Python WebSocket edge cannot pass. Prints `{"ws_url": ...}` once serving.
"""

from __future__ import annotations

import asyncio
import json
import signal

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


async def echo(ws: ServerConnection) -> None:
    try:
        async for data in ws:
            await ws.send(data)
    except ConnectionClosed:
        pass


async def serve_until_stopped(host: str = "127.0.0.1", port: int = 0) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve(echo, host, port, compression=None, max_size=2**24, ping_interval=None) as server:
        bound = next(iter(server.sockets)).getsockname()
        print(json.dumps({"ws_url": f"ws://{bound[0]}:{bound[1]}"}), flush=True)
        await stop.wait()


def main() -> int:
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve_until_stopped())
    else:
        uvloop.run(serve_until_stopped())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
