"""MessagingConfig: documented defaults, env overrides, bad values refused at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.config import from_env
from kernel.errors import InvalidArgument
from kernel.partitions import DEFAULT_PARTITIONS
from messaging import MessagingConfig
from messaging.config import pod_ordinal


def test_env_overrides_defaults() -> None:
    config = from_env(
        MessagingConfig,
        env={"HUBBUB_STORE": "memory", "HUBBUB_WORKER_ID": "9", "HUBBUB_DATA_DIR": "/tmp/x"},
    )
    assert (config.store, config.worker_id, config.data_dir) == ("memory", 9, Path("/tmp/x"))
    assert config.token_ttl_ms == 7 * 24 * 3600 * 1000


@pytest.mark.parametrize(
    "overrides",
    [
        {"store": "cassandra-someday"},
        {"worker_id": 1024},
        {"port": 70_000},
        {"token_secret": ""},
        {"token_ttl_ms": 0},
        {"password_hash_memory_cost": 4, "password_hash_parallelism": 1},
        {"partitions": 0},
        {"partitions": 65_537},
        {"log_backend": "mongodb"},
        {"log_backend": "cassandra", "cassandra_hosts": ""},
        {"cassandra_hosts": "a:port"},
        {"log_backend": "cassandra", "cassandra_hosts": "a:9042,b:9043"},
        {"log_backend": "cassandra", "cassandra_hosts": "a:port"},
        {"log_backend": "cassandra", "cassandra_consistency": "SOME"},
        {"log_backend": "cassandra", "cassandra_keyspace": "no-dashes"},
        {"log_backend": "cassandra", "cassandra_max_in_flight": 0},
        {"log_backend": "cassandra", "cassandra_retention_ttl_s": -1},
        {"log_backend": "cassandra", "cassandra_cache_conversations": 0},
    ],
)
def test_bad_values_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        MessagingConfig(**overrides)  # type: ignore[arg-type]


def test_partitions_default_and_env() -> None:
    assert MessagingConfig().partitions == DEFAULT_PARTITIONS
    assert from_env(MessagingConfig, env={"HUBBUB_PARTITIONS": "64"}).partitions == 64


def test_cassandra_options_from_env() -> None:
    config = from_env(
        MessagingConfig,
        env={
            "HUBBUB_LOG_BACKEND": "cassandra",
            "HUBBUB_CASSANDRA_HOSTS": "db1,db2:9042",
            "HUBBUB_CASSANDRA_CONSISTENCY": "QUORUM",
            "HUBBUB_CASSANDRA_RETENTION_TTL_S": "86400",
        },
    )
    options = config.cassandra()
    assert options.hosts == (("db1", 9042), ("db2", 9042))
    assert (options.consistency, options.retention_ttl_s, options.keyspace) == ("QUORUM", 86400, "hubbub")
    assert MessagingConfig().log_backend == "sqlite"  # no infrastructure by default


@pytest.mark.parametrize(("pod", "ordinal"), [("router-0", 0), ("router-12", 12), ("hubbub-router-3", 3)])
def test_a_statefulset_pods_ordinal_is_the_number_after_its_last_dash(pod: str, ordinal: int) -> None:
    assert pod_ordinal(pod) == ordinal
    assert MessagingConfig(worker_id=2, worker_id_pod=pod).snowflake_worker == 2 + ordinal


@pytest.mark.parametrize("pod", ["router", "router-", "router-x", "router-٣", "router-1a"])
def test_a_pod_name_without_an_ordinal_is_refused_at_start_up(pod: str) -> None:
    with pytest.raises(InvalidArgument, match="worker_id_pod"):
        MessagingConfig(worker_id_pod=pod)


def test_a_pod_ordinal_past_the_last_worker_id_is_refused() -> None:
    assert MessagingConfig().snowflake_worker == 1  # no pod: worker_id alone
    with pytest.raises(InvalidArgument, match="worker_id"):
        from_env(MessagingConfig, env={"HUBBUB_WORKER_ID": "1000", "HUBBUB_WORKER_ID_POD": "router-24"})
