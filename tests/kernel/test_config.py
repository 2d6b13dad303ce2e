"""kernel.config: one validation style for every room's config, unknown variables refused with
the closest name, flags derived from fields (help from their docstrings)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploy.config import NodeConfig
from discovery import DiscoveryConfig
from edge import EdgeConfig
from kernel.config import add_config_flags, check, field_docs, flag_values, from_env, unknown_env
from kernel.errors import ErrorCode, InvalidArgument
from messaging import MessagingConfig
from presence import PresenceConfig
from router import RouterConfig


@pytest.mark.parametrize(
    ("cls", "bad", "option"),
    [
        (NodeConfig, {"store": "mongodb"}, "store"),
        (NodeConfig, {"log_level": "verbose"}, "log_level"),
        (NodeConfig, {"ws_port": 70_000}, "ws_port"),
        (PresenceConfig, {"debounce_ms": -1}, "debounce_ms"),
        (PresenceConfig, {"max_watch_queue": 0}, "max_watch_queue"),
        (DiscoveryConfig, {"port": -1}, "port"),
        (EdgeConfig, {"send_queue_limit": 0}, "send_queue_limit"),
        (MessagingConfig, {"password_hash_time_cost": 0}, "password_hash_time_cost"),
        (RouterConfig, {"messaging_target": "127.0.0.1:1", "max_batch": 0}, "max_batch"),
        (RouterConfig, {}, "messaging_target"),
    ],
)
def test_every_room_refuses_a_bad_config_at_construction_naming_the_option(
    cls: type[Any], bad: dict[str, Any], option: str
) -> None:
    with pytest.raises(InvalidArgument, match=option) as refused:
        cls(**bad)
    assert refused.value.code is ErrorCode.INVALID_ARGUMENT


def test_check_names_the_option_the_rule_and_the_value() -> None:
    check(True, "port", "in 0..65535", 1)
    with pytest.raises(InvalidArgument) as refused:
        check(False, "port", "in 0..65535", 70_000)
    assert refused.value.message == "port must be in 0..65535, not 70000"


def test_an_unknown_variable_is_named_with_the_closest_known_one() -> None:
    known = ["HUBBUB_WS_PORT", "HUBBUB_STORE"]
    assert unknown_env(known, env={"HUBBUB_WS_PORT": "1", "PATH": "/bin"}) is None
    error = unknown_env(known, env={"HUBBUB_WS_PROT": "9000"})
    assert error is not None and error.message == (
        "unknown environment variable HUBBUB_WS_PROT (did you mean HUBBUB_WS_PORT?)"
    )
    far = unknown_env(known, env={"HUBBUB_ZZZ": "1"})
    assert far is not None and "known: HUBBUB_STORE, HUBBUB_WS_PORT" in far.message


@dataclass(frozen=True)
class Sample:
    port: int = 8
    """Where it listens."""
    loud: bool = False
    """Say more."""
    root: Path = Path("x")
    """Where files go; a 100% made-up option."""


def test_flags_come_from_the_fields_with_their_docstrings_and_defaults() -> None:
    assert field_docs(Sample) == {
        "port": "Where it listens.",
        "loud": "Say more.",
        "root": "Where files go; a 100% made-up option.",
    }
    parser = argparse.ArgumentParser()
    add_config_flags(parser, Sample)
    helps = {a.dest: a.help for a in parser._actions}
    assert helps["port"] == "Where it listens. (default 8; env HUBBUB_PORT)"
    assert helps["loud"] == "Say more. (default off; env HUBBUB_LOUD)"
    args = parser.parse_args(["--port", "9", "--loud", "--root", "~/y"])
    assert from_env(Sample, env={}, **flag_values(args, Sample)) == Sample(9, True, Path.home() / "y")
    # Flags not given leave env and defaults in charge.
    unset = flag_values(parser.parse_args([]), Sample)
    assert from_env(Sample, env={"HUBBUB_PORT": "7"}, **unset) == Sample(port=7)
    assert from_env(Sample, env={}, **flag_values(parser.parse_args(["--no-loud"]), Sample)).loud is False
