"""The `hubbub` command: run a node, chat from a terminal, benchmark, administer discovery.

Each subcommand hands off to the module that owns it; this file only parses and dispatches.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from deploy.child_process import startup_error
from deploy.config import NodeConfig
from deploy.local_servers.process import ServerStartError
from deploy.room_configs import check_room_configs, limit_env_names
from kernel.config import add_config_flags, env_name, env_names, flag_values, from_env, unknown_env
from kernel.errors import HubbubError, InvalidArgument
from kernel.logs import configure_logging
from kernel.runtime import run_event_loop, settle_after_startup

if TYPE_CHECKING:
    from deploy.single_node import SingleNode

# Defaults not shown in --help: a secret's.
HIDDEN_DEFAULTS = ("token_secret", "internal_secret")
# Never a value on the command line (`ps` shows it to everyone): HUBBUB_<NAME> or --<name>-file.
SECRETS = ("token_secret", "internal_secret")


def _up_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = sub.add_parser(
        "up",
        usage="%(prog)s [options]",
        help="run a single node with embedded defaults (no infrastructure)",
        description="Run a single node: every service on this machine, no infrastructure. Each option "
        "is a field of deploy/config.py's NodeConfig, settable by flag or by HUBBUB_<OPTION>.",
    )
    # Derived from NodeConfig's fields and docstrings: a new option cannot lack a flag.
    add_config_flags(
        up,
        NodeConfig,
        aliases={"trace_exporter": "--trace"},
        hidden_defaults=HIDDEN_DEFAULTS,
        secret_files=SECRETS,
    )
    up.add_argument(
        "--ready-json", action="store_true", help="print one JSON line with the addresses once serving"
    )
    up.add_argument(
        "--trace-ui",
        action="store_true",
        help="also start the tracing UI (Arize Phoenix, http://127.0.0.1:6006; installed into "
        ".venv-phoenix on first use) and export every process's traces to it",
    )


def chat_command(argv0: str, executable: str, on_path: str | None) -> str:
    """The `hubbub` to tell the user to run, as it will work from any folder: `hubbub` only if
    that is the one on PATH, else the absolute path of this one (`./dev up` leaves the venv
    off PATH), else this interpreter running the module."""
    candidates = [Path(argv0)] if Path(argv0).name == "hubbub" else []
    candidates.append(Path(executable).parent / "hubbub")
    for candidate in candidates:
        if candidate.is_file():
            mine = candidate.absolute()
            if on_path is not None and Path(on_path).absolute() == mine:
                return "hubbub"
            return shlex.quote(str(mine))
    return f"{shlex.quote(executable)} -m deploy.cli"


def web_client_url(ws_url: str, discovery_http: str = "") -> str:
    """The web client is served on the WebSocket port (edge/static_files.py); with discovery's
    HTTP URL it asks discovery for its edge on every (re)connect, so a drain moves it."""
    scheme, rest = ws_url.split("://", 1)
    page = f"{'https' if scheme == 'wss' else 'http'}://{rest.rstrip('/')}/"
    return f"{page}?{urlencode({'discovery': discovery_http})}" if discovery_http else page


def banner(node: SingleNode, hubbub: str) -> str:
    from discovery.admin_cli import DEFAULT_TARGET
    from sdk.terminal_chat import DEFAULT_URLS

    # `hubbub chat` assumes the default WebSocket address: name another one.
    url = "" if node.ws_url == DEFAULT_URLS["ws"] else f" --url {shlex.quote(node.ws_url)}"

    admin = (
        f"{hubbub} discovery"
        + ("" if node.discovery_target == DEFAULT_TARGET else f" --target {node.discovery_target}")
        + f" --data-dir {shlex.quote(str(node.data_dir.absolute()))}"  # where its internal secret is
    )
    http = (
        f"  discovery (HTTP):     {node.discovery_http}/v1/edge?user=alice\n" if node.discovery_http else ""
    )
    more_edges = "".join(f"  edge-{i}:               {u}\n" for i, u in enumerate(node.ws_urls[1:], start=2))
    page = web_client_url(node.ws_url, node.discovery_http)
    return (
        f"hubbub is up.\n"
        f"  web client:           {page}  (open it in a browser)\n"
        f"  WebSocket clients:    {node.ws_url}  (subprotocols hubbub.v1.json, hubbub.v1.proto)\n"
        f"{more_edges}"
        f"  gRPC-stream clients:  {node.gateway_target}  (hubbub.v1.Gateway/Connect)\n"
        f"  discovery (admin):    {node.discovery_target}  ({admin} nodes)\n"
        f"{http}"
        f"  data:                 {node.data_dir.absolute()}\n"
        + "".join(f"  metrics (Prometheus): {url}  ({services})\n" for services, url in node.metrics.items())
        + "Chat from two terminals:\n"
        f"  {hubbub} chat{url} --user alice --to bob\n"
        f"  {hubbub} chat{url} --user bob --to alice\n"
        "Ctrl-C stops."
    )


def old_data_dir_note(data_dir: Path, cwd: Path) -> str:
    """Earlier versions kept data in ./data of wherever they started: say where it went."""
    old = cwd / "data"
    if (old / "messages.db").exists() and old.absolute() != data_dir.absolute():
        return (
            f"note: {old.absolute()} holds data of an earlier hubbub (which used ./data); this node "
            f"uses {data_dir.absolute()}. To keep the old data: hubbub up --data-dir {old.absolute()}"
        )
    return ""


async def _serve(config: NodeConfig, ready_json: bool) -> None:
    from deploy.single_node import serve_until_signalled

    await serve_until_signalled(config, lambda node: _ready(node, config, ready_json))


def _ready(node: SingleNode, config: NodeConfig, ready_json: bool) -> None:
    settle_after_startup()
    if ready_json:
        addresses = {
            "ws_url": node.ws_url,
            "web_url": web_client_url(node.ws_url, node.discovery_http),
            "gateway_target": node.gateway_target,
            "discovery_target": node.discovery_target,
            "discovery_http": node.discovery_http,
            "ws_urls": node.ws_urls,
            "data_dir": str(config.data_dir.absolute()),
            "metrics": node.metrics,
        }
        print(json.dumps(addresses), flush=True)
    else:
        hubbub = chat_command(sys.argv[0], sys.executable, shutil.which("hubbub"))
        print(banner(node, hubbub), flush=True)
        old = old_data_dir_note(config.data_dir, Path.cwd())
        if old:
            print(old, file=sys.stderr, flush=True)


def _usage_error(command: str, message: str) -> int:
    print(f"{command}: {message}", file=sys.stderr)
    return 2


def _where_set(message: str, flags: dict[str, object]) -> str:
    """Names the variable when the option an error names was set in the environment. A room's
    rule may name its limit options as a pattern (`rate_*_burst`): the variables set that it
    matches are named."""
    option = next((word for word in re.findall(r"\w+", message) if word in flags), None)
    if option is not None:
        if flags[option] is not None or env_name(option) not in os.environ:
            return ""
        return f" (set by {env_name(option)})"
    patterns = [
        re.escape(word).replace(r"\*", r"\w+") for word in re.findall(r"[\w*]+", message) if "_" in word
    ]
    named = [
        f"{key}={os.environ[key]}"
        for key in limit_env_names()
        if key in os.environ and any(re.fullmatch(p, key.removeprefix("HUBBUB_").lower()) for p in patterns)
    ]
    return f" (set by {', '.join(named)})" if named else ""


def _cmd_up(args: argparse.Namespace) -> int:
    from deploy.single_node import process_groups, process_name
    from discovery.admin_cli import TARGET_ENV  # read by `hubbub discovery`: not a typo here
    from media.config import ENV_PREFIX as MEDIA_PREFIX
    from media.config import MediaConfig
    from router.push.config import PushConfig
    from sdk.terminal_chat import PASSWORD_ENV  # read by `hubbub chat`, often set beside it

    media = env_names(MediaConfig, MEDIA_PREFIX)  # the blob server's (the sweep's) options
    known = [
        *env_names(NodeConfig),
        *env_names(PushConfig),
        *media,
        *limit_env_names(),
        TARGET_ENV,
        PASSWORD_ENV,
    ]
    unknown = unknown_env(known)
    if unknown is not None:
        return _usage_error("hubbub up", unknown.message)
    flags = flag_values(args, NodeConfig)
    try:
        config = from_env(NodeConfig, **flags)
        check_room_configs(config)  # every room's rules, before any process starts
        process_groups(config.processes)  # a bad layout is a bad option too (exit 2)
    except InvalidArgument as exc:
        return _usage_error("hubbub up", exc.message + _where_set(exc.message, flags))
    configure_logging(config.log_level, config.log_format, process_name(config.processes))
    with contextlib.ExitStack() as cleanup:
        try:
            if args.trace_ui:
                config = _with_trace_ui(config, cleanup)
            run_event_loop(_serve(config, args.ready_json))
        except (HubbubError, OSError, ServerStartError) as exc:
            print(f"hubbub up: cannot start: {startup_error(exc)}", file=sys.stderr)
            return 1
    return 0


def _with_trace_ui(config: NodeConfig, cleanup: contextlib.ExitStack) -> NodeConfig:
    """Start Phoenix beside the node (stopped when it stops) and point the exporter at it."""
    from deploy.local_servers.phoenix import DEFAULT_OTLP_PORT, DEFAULT_UI_PORT, start_phoenix

    print("hubbub up: starting the tracing UI (Arize Phoenix)...", file=sys.stderr, flush=True)
    phoenix = start_phoenix(config.data_dir / "phoenix", ui_port=DEFAULT_UI_PORT, otlp_port=DEFAULT_OTLP_PORT)
    cleanup.callback(phoenix.stop)
    print(f"  tracing UI:           {phoenix.info['ui_url']}  (project default)", file=sys.stderr, flush=True)
    return dataclasses.replace(
        config, trace_exporter="otlp", otlp_endpoint=str(phoenix.info["otlp_endpoint"])
    )


def version() -> str:
    try:
        return importlib.metadata.version("hubbub")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """`hubbub` and `hubbub up`; the other subcommands parse their own arguments."""
    parser = argparse.ArgumentParser(prog="hubbub", description="hubbub: a chat backend in Python")
    parser.add_argument("--version", action="version", version=f"hubbub {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _up_parser(sub)
    sub.add_parser("chat", help="interactive terminal client (hubbub chat --help)")
    sub.add_parser("bench", help="benchmarks (hubbub bench --help)")
    sub.add_parser("discovery", help="discovery admin CLI: nodes, assign, drain (hubbub discovery --help)")
    sub.add_parser("admin", help="the admin CLI: nodes, drain, move-partition (hubbub admin --help)")
    sub.add_parser("cluster", help="a local multi-process cluster: up, status (hubbub cluster --help)")
    sub.add_parser("protos", help="regenerate the Python code of protos/*.proto (hubbub protos --help)")
    sub.add_parser("store", help="the Cassandra store's schema: migrate (hubbub store --help)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Subcommands that own their arguments get the rest of the line untouched.
    if argv[:1] == ["chat"]:
        from sdk.terminal_chat import main as chat_main

        return chat_main(argv[1:])
    if argv[:1] in (["discovery"], ["admin"]):
        from discovery.admin_cli import main as discovery_main

        return discovery_main(argv[1:], prog=f"hubbub {argv[0]}")
    if argv[:1] == ["bench"]:
        from bench.cli import main as bench_main

        return bench_main(argv[1:])
    if argv[:1] == ["cluster"]:
        from deploy.cluster.cli import main as cluster_main

        return cluster_main(argv[1:], prog="hubbub cluster")
    if argv[:1] == ["protos"]:
        from protos.generate import main as protos_main

        return protos_main(argv[1:], prog="hubbub protos")

    if argv[:1] == ["store"]:
        from deploy.cassandra.migrate import main as store_main

        return store_main(argv[1:])

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "up":
        return _cmd_up(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
