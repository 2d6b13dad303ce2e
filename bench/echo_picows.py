"""The baseline's echo server on picows (a Cython WebSocket library) instead of websockets:
the same frames back unchanged, for `hubbub bench baseline --server picows`, which weighs the
WebSocket layer the edge could move to. Prints `{"ws_url": ...}` once serving.
"""

from __future__ import annotations

import asyncio
import json
import signal

from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server


class Echo(WSListener):
    """Each data frame goes back as it came (a fragment as a fragment); a close is answered."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
            transport.send(frame.msg_type, frame.get_payload_as_bytes(), frame.fin)


def listener(_: WSUpgradeRequest) -> Echo:
    return Echo()


async def serve_until_stopped(host: str = "127.0.0.1", port: int = 0) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await ws_create_server(listener, host, port, max_frame_size=2**24)
    bound = server.sockets[0].getsockname()
    print(json.dumps({"ws_url": f"ws://{bound[0]}:{bound[1]}"}), flush=True)
    try:
        await stop.wait()
    finally:
        server.close()


def main() -> int:
    import uvloop

    uvloop.run(serve_until_stopped())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
