"""RouterConfig: documented defaults, env overrides, validation at start-up."""

from __future__ import annotations

import pytest

from kernel.config import from_env
from kernel.errors import InvalidArgument
from router import RouterConfig, start_router


def test_defaults_and_env_overrides() -> None:
    config = from_env(
        RouterConfig,
        env={"HUBBUB_MAX_APPENDS_IN_FLIGHT": "8", "HUBBUB_MESSAGING_TARGET": "127.0.0.1:1"},
    )
    assert config.max_appends_in_flight == 8
    assert (config.router_id, config.max_batch, config.member_cache_size) == ("router-1", 1000, 10_000)


@pytest.mark.parametrize(
    "bad",
    [
        {"messaging_target": ""},
        {"max_appends_in_flight": 0},
        {"max_batch": 0},
        {"append_interval_ms": -1},
        {"seal_retry_s": -1},
        {"port": 70000},
    ],
)
def test_invalid_configs_fail_at_start_up(bad: dict[str, object]) -> None:
    values: dict[str, object] = {"messaging_target": "127.0.0.1:1", **bad}
    with pytest.raises(InvalidArgument):
        RouterConfig(**values)  # type: ignore[arg-type]


def test_a_config_without_messaging_is_refused_naming_the_option() -> None:
    with pytest.raises(InvalidArgument, match="messaging_target"):
        RouterConfig()


async def test_a_router_told_its_directory_is_shared_but_given_none_refuses_to_start() -> None:
    """Review finding: it fell back to a memory directory nobody writes, so every recipient
    looked offline and every message went to push (the edge refused the same mistake)."""
    config = RouterConfig(
        messaging_target="127.0.0.1:1", presence_target="127.0.0.1:2", directory_backend="redis"
    )
    with pytest.raises(InvalidArgument, match="directory_backend=redis"):
        await start_router(config)
