"""The `hubbub` command: run a node, chat from a terminal, benchmark, administer discovery.

Each subcommand hands off to the module that owns it; this file only parses and dispatches.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from deploy.child_process import startup_error
from deploy.config import NodeConfig
from kernel.config import from_env
from kernel.errors import HubbubError
from kernel.runtime import settle_after_startup

if TYPE_CHECKING:
    from deploy.single_node import SingleNode


def _run(coro_main: object) -> None:
    try:
        import uvloop

        uvloop.run(coro_main)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coro_main)  # type: ignore[arg-type]


def _up_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = sub.add_parser("up", help="run a single node with embedded defaults (no infrastructure)")
    up.add_argument("--data-dir", type=Path, help="where data lives (default ./data)")
    up.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    up.add_argument("--ws-port", type=int, help="WebSocket port (default 8765; 0 = any)")
    up.add_argument("--gateway-port", type=int, help="gRPC-stream port (default 8766; 0 = any)")
    up.add_argument("--discovery-port", type=int, help="discovery port (default 8767; 0 = any)")
    up.add_argument("--store", choices=["sqlite", "memory"], help="message store (default sqlite)")
    up.add_argument("--trace", dest="trace_exporter", choices=["none", "console", "otlp"])
    up.add_argument(
        "--processes", help='process layout: groups like "edge/messaging" (default) or "one" process'
    )
    up.add_argument("--heartbeat-timeout-ms", type=int)
    up.add_argument("--append-interval-ms", type=float)
    up.add_argument("--link-flush-interval-ms", type=float)
    up.add_argument("--presence-lease-ms", type=int)
    up.add_argument("--presence-debounce-ms", type=int)
    up.add_argument(
        "--ready-json", action="store_true", help="print one JSON line with the addresses once serving"
    )


async def _serve(config: NodeConfig, ready_json: bool) -> None:
    from deploy.single_node import serve_until_signalled

    await serve_until_signalled(config, lambda node: _ready(node, config, ready_json))


def _ready(node: SingleNode, config: NodeConfig, ready_json: bool) -> None:
    settle_after_startup()
    addresses = {
        "ws_url": node.ws_url,
        "gateway_target": node.gateway_target,
        "discovery_target": node.discovery_target,
        "data_dir": str(config.data_dir),
    }
    if ready_json:
        print(json.dumps(addresses), flush=True)
    else:
        print(
            f"hubbub is up.\n"
            f"  WebSocket clients:    {node.ws_url}  (subprotocols hubbub.v1.json, hubbub.v1.proto)\n"
            f"  gRPC-stream clients:  {node.gateway_target}  (hubbub.v1.Gateway/Connect)\n"
            f"  discovery (admin):    {node.discovery_target}  (hubbub discovery nodes)\n"
            f"  data:                 {config.data_dir.resolve()}\n"
            "Chat from two terminals:\n"
            "  hubbub chat --user alice --to bob      hubbub chat --user bob --to alice\n"
            "Ctrl-C stops.",
            flush=True,
        )


def _cmd_up(args: argparse.Namespace) -> int:
    overrides = {
        name: getattr(args, name)
        for name in (
            "data_dir",
            "host",
            "ws_port",
            "gateway_port",
            "discovery_port",
            "store",
            "trace_exporter",
            "processes",
            "heartbeat_timeout_ms",
            "append_interval_ms",
            "link_flush_interval_ms",
            "presence_lease_ms",
            "presence_debounce_ms",
        )
    }
    config = from_env(NodeConfig, **overrides)
    logging.basicConfig(
        level=config.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        _run(_serve(config, args.ready_json))
    except (HubbubError, OSError) as exc:
        print(f"hubbub up: cannot start: {startup_error(exc)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Subcommands that own their arguments get the rest of the line untouched.
    if argv[:1] == ["chat"]:
        from sdk.terminal_chat import main as chat_main

        return chat_main(argv[1:])
    if argv[:1] == ["discovery"]:
        from discovery.admin_cli import main as discovery_main

        return discovery_main(argv[1:])
    if argv[:1] == ["bench"]:
        from bench.cli import main as bench_main

        return bench_main(argv[1:])
    if argv[:1] == ["protos"]:
        from protos.generate import main as protos_main

        sys.argv = ["protos.generate", *argv[1:]]
        protos_main()
        return 0

    parser = argparse.ArgumentParser(prog="hubbub", description="hubbub: a chat backend in Python")
    sub = parser.add_subparsers(dest="command", required=True)
    _up_parser(sub)
    sub.add_parser("chat", help="interactive terminal client (hubbub chat --help)")
    sub.add_parser("bench", help="benchmarks (hubbub bench --help)")
    sub.add_parser("discovery", help="discovery admin CLI (hubbub discovery --help)")
    sub.add_parser("protos", help="regenerate the Python code of protos/*.proto")
    args = parser.parse_args(argv)
    if args.command == "up":
        return _cmd_up(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
