"""The `hubbub` command as a user meets it: one-line errors with exit code 2 naming the option,
misspelt variables refused, a flag with help text for every option, prog names that are the
command typed, --version, and a start-up banner whose command runs from anywhere."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.cli import WORKLOADS
from deploy.cli import SECRETS, banner, build_parser, chat_command, old_data_dir_note
from deploy.config import NodeConfig
from discovery.admin_cli import build_parser as discovery_parser
from kernel.config import default_data_dir, field_docs

ROOT = Path(__file__).resolve().parents[2]
VENV_HUBBUB = Path(sys.executable).parent / "hubbub"
HUBBUB = [str(VENV_HUBBUB)] if VENV_HUBBUB.is_file() else [sys.executable, "-m", "deploy.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBBUB_")}
    return {**env, **extra}


def hubbub(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HUBBUB, *args], cwd=ROOT, env=clean_env(**env), capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("variable", "value", "names"),
    [
        ("HUBBUB_WS_PORT", "abc", ("HUBBUB_WS_PORT", "integer")),
        ("HUBBUB_LOG_LEVEL", "verbose", ("log_level", "HUBBUB_LOG_LEVEL", "DEBUG, INFO")),
        ("HUBBUB_STORE", "mongodb", ("store", "HUBBUB_STORE", "sqlite, memory, cassandra")),
        ("HUBBUB_LOG_BACKEND", "mongodb", ("log_backend", "sqlite, cassandra")),
        ("HUBBUB_CASSANDRA_HOSTS", "db:x", ("cassandra_hosts", "db:x")),
        ("HUBBUB_WORKER_ID", "5000", ("worker_id", "0..1023")),
        ("HUBBUB_PUSH_LOG", "maybe", ("HUBBUB_PUSH_LOG", "boolean")),
        # A rule of a room's own config, checked before any process starts.
        ("HUBBUB_SEND_QUEUE_LIMIT", "0", ("edge: send_queue_limit", "HUBBUB_SEND_QUEUE_LIMIT")),
        # A rule naming its options as a pattern still names the variable that broke it.
        ("HUBBUB_RATE_SEND_BURST", "0", ("rate_*_burst", "set by HUBBUB_RATE_SEND_BURST=0")),
        (
            "HUBBUB_PASSWORD_HASH_MEMORY_KIB",
            "4",
            ("password_hash_memory_kib", "HUBBUB_PASSWORD_HASH_MEMORY_KIB"),
        ),
        # A bad process layout is a bad option (exit 2), not a failed start (exit 1).
        ("HUBBUB_PROCESSES", "bogus", ("processes", "not 'bogus'", "HUBBUB_PROCESSES")),
    ],
)
def test_a_bad_env_value_is_one_line_and_exit_2_naming_the_option(
    tmp_path: Path, variable: str, value: str, names: tuple[str, ...]
) -> None:
    done = hubbub("up", "--data-dir", str(tmp_path), **{variable: value})
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("hubbub up: ")
    for name in names:
        assert name in line
    assert "Traceback" not in done.stderr


def test_a_misspelt_variable_is_refused_naming_the_closest_option(tmp_path: Path) -> None:
    done = hubbub("up", "--data-dir", str(tmp_path), HUBBUB_WS_PROT="9000")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "hubbub up: unknown environment variable HUBBUB_WS_PROT (did you mean HUBBUB_WS_PORT?)"
    )


def test_a_bad_flag_value_is_a_usage_error_exit_2(tmp_path: Path) -> None:
    done = hubbub("up", "--data-dir", str(tmp_path), "--ws-port", "abc")
    assert done.returncode == 2
    assert "argument --ws-port: expected an integer, got 'abc'" in done.stderr
    assert "Traceback" not in done.stderr
    done = hubbub("up", "--data-dir", str(tmp_path), "--heartbeat-timeout-ms", "10")
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "hubbub up: heartbeat_timeout_ms must be greater than heartbeat_interval_ms (15000), not 10",
    )


@pytest.mark.parametrize("flag", ["--token-secret", "--internal-secret", "--token-secret=x"])
def test_a_secret_on_the_command_line_is_refused(tmp_path: Path, flag: str) -> None:
    given = [flag] if "=" in flag else [flag, "x"]
    done = hubbub("up", "--data-dir", str(tmp_path), *given)
    assert done.returncode == 2
    message = done.stderr.strip().splitlines()[-1]
    name = flag.split("=")[0]
    assert message == (
        f"hubbub up: error: {name} would show the secret to anyone on this machine (ps): "
        f"use {name}-file PATH or HUBBUB_{name[2:].replace('-', '_').upper()}"
    )
    assert not (tmp_path / "messages.db").exists()


def test_an_unreadable_secret_file_is_a_usage_error(tmp_path: Path) -> None:
    done = hubbub("up", "--data-dir", str(tmp_path), "--token-secret-file", str(tmp_path / "nothing"))
    assert done.returncode == 2
    assert "argument --token-secret-file: cannot read" in done.stderr and "Traceback" not in done.stderr


def test_the_banner_names_the_websocket_url_only_when_it_is_not_the_default(tmp_path: Path) -> None:
    def chats(ws_url: str) -> list[str]:
        node = SimpleNamespace(
            ws_url=ws_url,
            gateway_target="127.0.0.1:8766",
            discovery_target="127.0.0.1:8767",
            discovery_http="http://127.0.0.1:8768",
            ws_urls=[ws_url],
            data_dir=tmp_path,
            metrics={"edge": "http://127.0.0.1:9466/metrics"},
        )
        return [line.strip() for line in banner(node, "hubbub").splitlines() if " chat " in line]  # type: ignore[arg-type]

    assert chats("ws://127.0.0.1:8765") == [
        "hubbub chat --user alice --to bob",
        "hubbub chat --user bob --to alice",
    ]
    banner_text = banner(
        SimpleNamespace(  # type: ignore[arg-type]
            ws_url="ws://127.0.0.1:8765",
            gateway_target="-",
            discovery_target="-",
            discovery_http="",
            ws_urls=["ws://127.0.0.1:8765"],
            data_dir=tmp_path,
            metrics={"edge": "http://127.0.0.1:9466/metrics"},
        ),
        "hubbub",
    )
    assert "metrics (Prometheus): http://127.0.0.1:9466/metrics  (edge)" in banner_text
    assert chats("ws://127.0.0.1:9000") == [  # ./dev up --ws-port 9000
        "hubbub chat --url ws://127.0.0.1:9000 --user alice --to bob",
        "hubbub chat --url ws://127.0.0.1:9000 --user bob --to alice",
    ]


def test_hubbub_password_for_chat_does_not_stop_hubbub_up(tmp_path: Path) -> None:
    # With a bad port beside it, so that nothing starts: the one error is about the port.
    done = hubbub("up", "--data-dir", str(tmp_path), HUBBUB_PASSWORD="secret-pw", HUBBUB_WS_PORT="abc")
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "hubbub up: HUBBUB_WS_PORT: expected an integer, got 'abc'",
    )


def test_version() -> None:
    done = hubbub("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == "hubbub 0.1.0"


def _up_parser() -> argparse.ArgumentParser:
    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    up: argparse.ArgumentParser = sub.choices["up"]
    return up


def test_every_node_option_has_a_documented_flag_and_an_env_variable() -> None:
    docs = field_docs(NodeConfig)
    by_dest = {a.dest: a for a in _up_parser()._actions}
    for field in dataclasses.fields(NodeConfig):
        assert docs.get(field.name), f"NodeConfig.{field.name} has no docstring"
        action = by_dest.get(field.name)
        assert action is not None, f"NodeConfig.{field.name} has no flag"
        flag = f"--{field.name.replace('_', '-')}" + ("-file" if field.name in SECRETS else "")
        assert flag in action.option_strings
        assert action.help and docs[field.name] in action.help
        assert f"HUBBUB_{field.name.upper()}" in action.help
    assert "--trace" in by_dest["trace_exporter"].option_strings  # the old spelling still works


def _parsers_of(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers_of(child)


class _Parsed(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def _parser_of_main(module: str, monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The parser a command's main() builds, caught as it parses (nothing runs)."""

    def caught(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Parsed(self)

    with monkeypatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_args", caught)
        with pytest.raises(_Parsed) as got:
            importlib.import_module(module).main([])
    return got.value.parser


def test_every_argument_has_help_and_every_prog_is_the_command_typed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsers = [*_parsers_of(build_parser()), *_parsers_of(discovery_parser())]
    protos = _parser_of_main("protos.generate", monkeypatch)
    assert protos.prog == "python -m protos.generate"  # what it is when run as a module
    for name, (module, _) in WORKLOADS.items():
        parser = _parser_of_main(module, monkeypatch)
        assert parser.prog == f"hubbub bench {name}"
        parsers.append(parser)
    for parser in parsers:
        assert parser.prog.startswith(("hubbub", "python -m")), parser.prog
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
                continue
            assert action.help, f"{parser.prog} {'/'.join(action.option_strings) or action.dest}: no help"


@pytest.mark.parametrize(
    ("argv", "usage"), [("protos", "hubbub protos"), ("bench store", "hubbub bench store")]
)
def test_help_names_the_command_typed(argv: str, usage: str) -> None:
    done = hubbub(*argv.split(), "--help")
    assert done.returncode == 0
    assert done.stdout.startswith(f"usage: {usage} ")


def test_up_help_says_what_the_cassandra_store_flags_do() -> None:
    done = hubbub("up", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "--store {sqlite,memory,cassandra}" in text
    assert "same as --log-backend cassandra" in text
    assert "--cassandra-hosts CASSANDRA_HOSTS" in text and "HOST[:PORT]" in text


def test_store_cassandra_puts_the_log_in_cassandra_and_the_directory_in_sqlite() -> None:
    from deploy.room_configs import messaging_config, router_log_config

    config = NodeConfig(store="cassandra", cassandra_hosts="db1,db2")
    messaging = messaging_config(config, "secret")
    assert (messaging.store, messaging.log_backend, messaging.cassandra_hosts) == (
        "sqlite",
        "cassandra",
        "db1,db2",
    )
    assert router_log_config(config).worker_id == messaging.worker_id + 1  # ids of its own
    assert messaging_config(NodeConfig(log_backend="cassandra"), "s").log_backend == "cassandra"  # the alias


def test_bench_baseline_offers_no_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """The baseline runs a bare websockets echo server: a store option would mean nothing."""
    parser = _parser_of_main("bench.baseline", monkeypatch)
    assert "--store" not in {s for a in parser._actions for s in a.option_strings}


def test_an_unknown_bench_workload_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cli import main as bench_main

    assert bench_main(["stor"]) == 2
    assert capsys.readouterr().err.startswith("hubbub bench: unknown workload 'stor'")


def test_dev_says_an_unknown_command_is_unknown_and_exits_2() -> None:
    done = subprocess.run([str(ROOT / "dev"), "foo"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == "dev: unknown command 'foo'"
    assert "./dev up" in done.stderr


def test_the_default_data_dir_is_per_user_not_per_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", "/srv/xdg")
    assert default_data_dir() == Path("/srv/xdg/hubbub")
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_data_dir() == Path.home() / ".local" / "share" / "hubbub"
    monkeypatch.chdir("/")
    assert NodeConfig().data_dir == Path.home() / ".local" / "share" / "hubbub"


def test_the_chat_command_to_print_runs_from_anywhere(tmp_path: Path) -> None:
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "hubbub").write_text("#!/bin/sh\n")
    python = str(venv_bin / "python")
    script = str(venv_bin / "hubbub")
    assert chat_command(script, python, on_path=None) == script
    assert chat_command(script, python, on_path=script) == "hubbub"
    assert chat_command(str(ROOT / "deploy" / "cli.py"), python, on_path="/usr/bin/hubbub") == script
    bare = str(tmp_path / "bare" / "python3")  # an interpreter with no hubbub script beside it
    assert chat_command("deploy/cli.py", bare, on_path=None) == f"{bare} -m deploy.cli"


def test_the_banner_prints_a_command_that_exists_and_the_absolute_data_dir(tmp_path: Path) -> None:
    """Started from another folder with no --data-dir, as `./dev up` users then do from anywhere:
    the data dir is the per-user one, printed absolute, and the printed command runs."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    with subprocess.Popen(
        [
            *HUBBUB,
            "up",
            "--ws-port",
            "0",
            "--gateway-port",
            "0",
            "--discovery-port",
            "0",
            "--store",
            "memory",
        ],
        cwd=elsewhere,
        env=clean_env(XDG_DATA_HOME=str(tmp_path / "xdg"), PATH=path, HUBBUB_PROCESSES="one"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        try:
            banner = []
            for line in proc.stdout:
                banner.append(line.rstrip("\n"))
                if line.startswith("Ctrl-C"):
                    break
            (admin,) = [line for line in banner if line.strip().startswith("discovery (admin):")]
            nodes = subprocess.run(
                shlex.split(admin.rsplit("(", 1)[1].rstrip(")")),
                capture_output=True,
                text=True,
                timeout=60,
                cwd=tmp_path,
                env=clean_env(PATH=path),
            )
            assert nodes.returncode == 0, nodes.stderr
            assert "edge-1" in nodes.stdout
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
    text = "\n".join(banner)
    assert text.startswith("hubbub is up."), text
    (data,) = [line for line in banner if line.strip().startswith("data:")]
    assert data.split("data:", 1)[1].strip() == str(tmp_path / "xdg" / "hubbub")
    (web_with_discovery,) = [line.split()[2] for line in banner if line.strip().startswith("web client:")]
    web, _, query = web_with_discovery.partition("?")
    assert query.startswith("discovery=http"), web_with_discovery  # the page goes through discovery
    ws = [line.split()[2] for line in banner if line.strip().startswith("WebSocket clients:")]
    assert ws == [web.replace("http://", "ws://").rstrip("/")]  # the same port serves the page
    chats = [shlex.split(line) for line in banner if " chat --url " in line]
    assert len(chats) == 2
    for command in chats:
        executable = command[0]
        assert Path(executable).is_absolute() and Path(executable).is_file(), command
        assert command[1:3] == ["chat", "--url"] and command[3].startswith("ws://127.0.0.1:")  # port 0
        assert command[3] != "ws://127.0.0.1:8765" and command[4] == "--user"
    runs = subprocess.run(
        [chats[0][0], "--version"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert runs.returncode == 0 and runs.stdout.startswith("hubbub ")


def test_data_left_in_an_old_relative_data_dir_is_pointed_out(tmp_path: Path) -> None:
    assert old_data_dir_note(tmp_path / "xdg", tmp_path) == ""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "messages.db").write_bytes(b"")
    note = old_data_dir_note(tmp_path / "xdg", tmp_path)
    assert f"--data-dir {tmp_path / 'data'}" in note
    assert old_data_dir_note(tmp_path / "data", tmp_path) == ""  # it is the one in use
