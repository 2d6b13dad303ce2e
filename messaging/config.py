"""The messaging service's configuration: one frozen value with documented defaults,
overridable by HUBBUB_* environment variables (kernel.config.from_env), checked at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kernel.errors import InvalidArgument
from kernel.ids import MAX_WORKER
from kernel.partitions import DEFAULT_PARTITIONS, MAX_PARTITIONS
from kernel.token_bucket import Rate
from messaging.auth_throttle import AuthLimits

STORES = ("sqlite", "memory")
LOG_BACKENDS = ("sqlite", "cassandra")
CONSISTENCY_LEVELS = (
    "auto",
    "ONE",
    "TWO",
    "THREE",
    "QUORUM",
    "ALL",
    "LOCAL_QUORUM",
    "EACH_QUORUM",
    "LOCAL_ONE",
)


@dataclass(frozen=True)
class CassandraOptions:
    """Where and how the Cassandra log and cursors are kept (messaging/store/cassandra/);
    MessagingConfig's cassandra_* options, without the prefix. docs/cassandra.md says how to
    point them at a production Cassandra or ScyllaDB cluster."""

    hosts: tuple[tuple[str, int], ...] = (("127.0.0.1", 9042),)
    keyspace: str = "hubbub"
    consistency: str = "auto"
    local_dc: str = ""
    protocol_version: int = 0
    max_in_flight: int = 256
    request_timeout_s: float = 5.0
    dedupe_ttl_s: int = 7 * 24 * 3600
    retention_ttl_s: int = 0
    cache_conversations: int = 100_000
    username: str = ""
    password: str = field(default="", repr=False)
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_check_hostname: bool = True

    @property
    def tls(self) -> bool:
        return bool(self.tls_ca_file or self.tls_cert_file)


def parse_hosts(raw: str, default_port: int = 9042) -> tuple[tuple[str, int], ...]:
    """ "h1,h2:9043" -> (("h1", 9042), ("h2", 9043)); raises InvalidArgument naming the option."""
    hosts: list[tuple[str, int]] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        host, _, port = item.rpartition(":") if ":" in item else (item, "", str(default_port))
        if not host or not port.isdigit() or not 0 < int(port) <= 65535:
            raise InvalidArgument(f"cassandra_hosts: expected HOST[:PORT],..., got {raw!r}")
        hosts.append((host, int(port)))
    if not hosts:
        raise InvalidArgument("cassandra_hosts must name at least one host")
    if len({port for _, port in hosts}) > 1:
        raise InvalidArgument("cassandra_hosts: every host must use the same port (the driver's rule)")
    return tuple(hosts)


def pod_ordinal(pod_name: str) -> int:
    """A StatefulSet pod's ordinal: the number after its name's last `-` (`router-3` is 3);
    INVALID_ARGUMENT for a name without one."""
    _, dash, ordinal = pod_name.rpartition("-")
    if not dash or not ordinal.isascii() or not ordinal.isdecimal() or len(ordinal) > 9:
        raise InvalidArgument(f"worker_id_pod {pod_name!r} is not a StatefulSet pod's name (NAME-ORDINAL)")
    return int(ordinal)


@dataclass(frozen=True)
class MessagingConfig:
    host: str = "127.0.0.1"
    """Interface the gRPC server binds."""
    port: int = 0
    """gRPC port; 0 picks a free one (read it back from GrpcService.port)."""
    data_dir: Path = Path("data")
    """Where the SQLite store keeps messages.db."""
    store: str = "sqlite"
    """Store backend: "sqlite" (durable, embedded) or "memory" (tests, throwaway runs)."""
    worker_id: int = 1
    """Snowflake worker id (0..1023) for message and conversation ids; unique per process. With
    worker_id_pod, the first of a StatefulSet's (its pod N gives ids as worker_id + N)."""
    worker_id_pod: str = ""
    """The StatefulSet pod this process runs as (Kubernetes: metadata.name, e.g. `router-3`):
    its ordinal, the number after the name's last `-`, is added to worker_id, so the pods of
    one template give ids as distinct workers (deploy/k8s/router.yaml). Empty: worker_id alone."""
    token_secret: str = "dev-secret-change-me"
    """HMAC secret for access tokens; the edges verify with the same secret."""
    token_ttl_ms: int = 7 * 24 * 3600 * 1000
    """How long an access token from log-in or sign-up stays valid (7 days)."""
    password_hash_time_cost: int = 3
    """argon2id iterations (argon2-cffi default)."""
    password_hash_memory_cost: int = 65536
    """argon2id memory in KiB (argon2-cffi default: 64 MiB)."""
    password_hash_parallelism: int = 4
    """argon2id lanes (argon2-cffi default)."""
    member_cache_size: int = 100_000
    """How many conversations' member lists the append path keeps in memory."""
    member_cache_ttl_s: float = 5.0
    """How long a cached member list is trusted. Changes made through this process invalidate
    at once; the TTL bounds staleness after changes made by another messaging process."""
    internal_secret: str = ""
    """Every call must carry this deployment secret (kernel.internal_auth); empty = open (tests)."""
    internal_tls_dir: str = ""
    """Mutual TLS with this CA and certificate (kernel.internal_tls); empty = plaintext."""
    login_failures_per_account_address: int = 5
    """Failed log-ins an account may have from one source address per `login_failures_window_s`;
    then that address gets RATE_LIMITED for it (the right password too) until one is back.
    Other addresses are not locked out by it."""
    login_failures_per_account: int = 100
    """Failed log-ins an account may have from all addresses together per window; past it
    only addresses the account logged in from before get in (a guesser spread over many
    addresses is slowed, the owner's own devices are not locked out)."""
    login_failures_per_address: int = 20
    """Failed log-ins one source address may have per `login_failures_window_s`."""
    login_failures_window_s: float = 60.0
    """The window of the log-in failure limits (tokens come back evenly over it)."""
    sign_ups_per_address: int = 20
    """Sign-ups one source address may make per `sign_ups_window_s`."""
    sign_ups_window_s: float = 3600.0
    """The window of the sign-up limit."""
    password_hash_concurrency: int = 2
    """argon2 hashes running at once (a pool of its own; each takes a core)."""
    password_hash_waiting: int = 64
    """Hashes queued behind those; beyond, a log-in or sign-up gets RATE_LIMITED at once."""
    partitions: int = DEFAULT_PARTITIONS
    """P, the number of partitions (kernel/partitions.py). Stored with the data on first start;
    a store created with another P refuses to open (P cannot change under existing data)."""
    log_backend: str = "sqlite"
    """Where messages and cursors live: "sqlite" (in `store`, the embedded default) or
    "cassandra" (a Cassandra or ScyllaDB cluster at `cassandra_hosts`, schema applied by
    `hubbub store migrate`; the directory stays in `store`, docs/cassandra.md says why)."""
    cassandra_hosts: str = "127.0.0.1:9042"
    """Contact points, HOST[:PORT] separated by commas (port 9042 when left out)."""
    cassandra_keyspace: str = "hubbub"
    """The keyspace `hubbub store migrate` created."""
    cassandra_consistency: str = "auto"
    """Consistency of every read and write: "auto" is LOCAL_QUORUM on servers that speak
    native protocol v2 or later and ONE on Cassandra 1.2 (protocol v1 knows no LOCAL_*)."""
    cassandra_local_dc: str = ""
    """The data centre whose replicas are asked first (DC-aware balancing); empty = the
    data centre of the first contact point."""
    cassandra_protocol_version: int = 0
    """Native protocol version; 0 lets the driver negotiate (1 for Cassandra 1.2)."""
    cassandra_max_in_flight: int = 256
    """Requests one store keeps in flight at most (bounded concurrency; more wait their turn)."""
    cassandra_request_timeout_s: float = 5.0
    """A request not answered by then fails with retryable UNAVAILABLE (never an ack)."""
    cassandra_dedupe_ttl_s: int = 7 * 24 * 3600
    """How long a (sender, client_msg_id) key is kept for retries (7 days)."""
    cassandra_retention_ttl_s: int = 0
    """Messages expire this long after they are written; 0 = kept for ever (the default)."""
    cassandra_cache_conversations: int = 100_000
    """Conversations whose end, fences and existence one log writer keeps in memory (each
    cache bounded by it; the least recently written go first, and are read again when next
    written). About 1 KiB each at most."""
    cassandra_username: str = ""
    """Log in to Cassandra as this role (PasswordAuthenticator); empty = no authentication."""
    cassandra_password: str = field(default="", repr=False)
    """The role's password: from the environment (HUBBUB_CASSANDRA_PASSWORD) or a secret mounted
    as one, never a command-line flag. Required with cassandra_username."""
    cassandra_tls_ca_file: str = ""
    """PEM file of the CA(s) the servers' certificates are checked against; setting it (or
    cassandra_tls_cert_file) turns TLS on (client_encryption_options on the servers). Empty with
    a client certificate: the system's CAs."""
    cassandra_tls_cert_file: str = ""
    """PEM client certificate, for servers that require one (require_client_auth); with
    cassandra_tls_key_file."""
    cassandra_tls_key_file: str = ""
    """PEM private key of cassandra_tls_cert_file."""
    cassandra_tls_check_hostname: bool = True
    """Check that a server's certificate names the contact point it was reached by (turn off
    only for certificates that name neither the host nor its address)."""

    @property
    def snowflake_worker(self) -> int:
        """The worker id this process gives ids as: worker_id, plus worker_id_pod's ordinal."""
        return self.worker_id + (pod_ordinal(self.worker_id_pod) if self.worker_id_pod else 0)

    def __post_init__(self) -> None:
        if self.store not in STORES:
            raise InvalidArgument(f"messaging store must be one of {', '.join(STORES)}, not {self.store!r}")
        if not 0 <= self.port <= 65535:
            raise InvalidArgument("messaging port must be in 0..65535")
        if not 0 <= self.worker_id <= MAX_WORKER:
            raise InvalidArgument(f"messaging worker_id must be in 0..{MAX_WORKER}")
        if not 0 <= self.snowflake_worker <= MAX_WORKER:
            raise InvalidArgument(
                f"messaging worker_id + the ordinal of worker_id_pod {self.worker_id_pod!r} must be "
                f"in 0..{MAX_WORKER}, not {self.snowflake_worker}"
            )
        if not self.token_secret:
            raise InvalidArgument("messaging token_secret must not be empty")
        if self.token_ttl_ms <= 0:
            raise InvalidArgument("messaging token_ttl_ms must be positive")
        if self.password_hash_time_cost < 1 or self.password_hash_parallelism < 1:
            raise InvalidArgument("password_hash_time_cost and password_hash_parallelism must be at least 1")
        if self.password_hash_memory_cost < 8 * self.password_hash_parallelism:
            raise InvalidArgument(
                "password_hash_memory_kib must be at least 8 KiB per lane (of password_hash_parallelism)"
            )
        if self.member_cache_size < 0 or self.member_cache_ttl_s < 0:
            raise InvalidArgument("member cache size and ttl must not be negative")
        counts = (
            self.login_failures_per_account_address,
            self.login_failures_per_account,
            self.login_failures_per_address,
            self.sign_ups_per_address,
        )
        if min(counts) < 1 or self.login_failures_window_s <= 0 or self.sign_ups_window_s <= 0:
            raise InvalidArgument("log-in and sign-up limits must be at least 1 per positive window")
        if self.password_hash_concurrency < 1 or self.password_hash_waiting < 0:
            raise InvalidArgument("password_hash_concurrency >= 1 and password_hash_waiting >= 0")
        if not 1 <= self.partitions <= MAX_PARTITIONS:
            raise InvalidArgument(f"messaging partitions must be in 1..{MAX_PARTITIONS}")
        if self.log_backend not in LOG_BACKENDS:
            raise InvalidArgument(
                f"log_backend must be one of {', '.join(LOG_BACKENDS)}, not {self.log_backend!r}"
            )
        self.cassandra()  # checked whichever backend runs: a mistake shows before it matters

    def cassandra(self) -> CassandraOptions:
        """The cassandra_* options as one value, checked."""
        if self.cassandra_consistency not in CONSISTENCY_LEVELS:
            raise InvalidArgument(f"cassandra_consistency must be one of {', '.join(CONSISTENCY_LEVELS)}")
        if not self.cassandra_keyspace.isidentifier():
            raise InvalidArgument("cassandra_keyspace must be letters, digits and _ (a CQL identifier)")
        if self.cassandra_protocol_version not in (0, 1, 2, 3, 4, 5):
            raise InvalidArgument("cassandra_protocol_version must be 0 (negotiate) or 1..5")
        if self.cassandra_max_in_flight < 1 or self.cassandra_request_timeout_s <= 0:
            raise InvalidArgument("cassandra_max_in_flight >= 1 and cassandra_request_timeout_s > 0")
        if self.cassandra_dedupe_ttl_s < 1 or self.cassandra_retention_ttl_s < 0:
            raise InvalidArgument("cassandra_dedupe_ttl_s >= 1 and cassandra_retention_ttl_s >= 0")
        if self.cassandra_cache_conversations < 1:
            raise InvalidArgument("cassandra_cache_conversations must be at least 1")
        if bool(self.cassandra_username) != bool(self.cassandra_password):
            raise InvalidArgument(
                "cassandra_username and cassandra_password go together (set both or neither)"
            )
        if bool(self.cassandra_tls_cert_file) != bool(self.cassandra_tls_key_file):
            raise InvalidArgument("cassandra_tls_cert_file and cassandra_tls_key_file go together")
        for name in ("cassandra_tls_ca_file", "cassandra_tls_cert_file", "cassandra_tls_key_file"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise InvalidArgument(f"{name}: no such file {path!r}")
        return CassandraOptions(
            hosts=parse_hosts(self.cassandra_hosts),
            keyspace=self.cassandra_keyspace,
            consistency=self.cassandra_consistency,
            local_dc=self.cassandra_local_dc,
            protocol_version=self.cassandra_protocol_version,
            max_in_flight=self.cassandra_max_in_flight,
            request_timeout_s=self.cassandra_request_timeout_s,
            dedupe_ttl_s=self.cassandra_dedupe_ttl_s,
            retention_ttl_s=self.cassandra_retention_ttl_s,
            cache_conversations=self.cassandra_cache_conversations,
            username=self.cassandra_username,
            password=self.cassandra_password,
            tls_ca_file=self.cassandra_tls_ca_file,
            tls_cert_file=self.cassandra_tls_cert_file,
            tls_key_file=self.cassandra_tls_key_file,
            tls_check_hostname=self.cassandra_tls_check_hostname,
        )

    def auth_limits(self) -> AuthLimits:
        failures_s = self.login_failures_window_s
        return AuthLimits(
            failures_per_account_address=Rate(
                self.login_failures_per_account_address, self.login_failures_per_account_address / failures_s
            ),
            failures_per_account=Rate(
                self.login_failures_per_account, self.login_failures_per_account / failures_s
            ),
            failures_per_address=Rate(
                self.login_failures_per_address, self.login_failures_per_address / failures_s
            ),
            sign_ups_per_address=Rate(
                self.sign_ups_per_address, self.sign_ups_per_address / self.sign_ups_window_s
            ),
        )


LIMIT_FIELDS = (
    "login_failures_per_account_address",
    "login_failures_per_account",
    "login_failures_per_address",
    "login_failures_window_s",
    "sign_ups_per_address",
    "sign_ups_window_s",
    "password_hash_concurrency",
    "password_hash_waiting",
)
"""The log-in / sign-up limit options, overridable by HUBBUB_<FIELD> on a node (deploy/services.py)."""

STORE_FIELDS = (
    "log_backend",
    "cassandra_hosts",
    "cassandra_keyspace",
    "cassandra_consistency",
    "cassandra_local_dc",
    "cassandra_protocol_version",
    "cassandra_max_in_flight",
    "cassandra_request_timeout_s",
    "cassandra_dedupe_ttl_s",
    "cassandra_retention_ttl_s",
    "cassandra_cache_conversations",
    "cassandra_username",
    "cassandra_password",
    "cassandra_tls_ca_file",
    "cassandra_tls_cert_file",
    "cassandra_tls_key_file",
    "cassandra_tls_check_hostname",
)
"""Where the log lives, overridable by HUBBUB_<FIELD> on a node (deploy/room_configs.py)."""
