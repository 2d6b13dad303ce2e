"""Options of the durable push queue and its senders (docs/push.md); HUBBUB_<FIELD> overrides
through kernel.config.from_env. An empty credential leaves that service off."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.config import check, check_choice
from kernel.webpush_hosts import DEFAULT_WEBPUSH_HOSTS
from router.push.rules import ContentPolicy


@dataclass(frozen=True)
class PushConfig:
    """Every option with its default and why it exists.

    push_content: what a push shows: generic ("New message"), count ("3 new messages") or
        preview (sender and first characters). Encrypted bodies always get generic and ids.
    push_user_rate_per_minute / push_user_burst: pushes one user's devices get, all services
        together; beyond, pushes wait (and collapse) rather than buzz a phone in a flood.
    push_retry_base_ms / push_retry_cap_ms: exponential backoff after 429, 5xx or a transport
        error; a service's Retry-After is honoured when longer.
    push_max_attempts: failures after which a push is dropped (logged).
    push_max_in_flight: concurrent requests to the push services.
    push_sent_memory_s: how long (message, device) pairs already sent are remembered, so a
        restart never sends one twice.
    push_fcm_project_id / push_fcm_credentials_file: the Firebase project and its service
        account JSON (OAuth2 token via google-auth); push_fcm_base_url for tests.
    push_apns_key_file / push_apns_key_id / push_apns_team_id: the .p8 provider key (ES256
        token); push_apns_base_url replaces both Apple hosts (tests); empty = production or
        sandbox as each target registered.
    push_vapid_private_key_file / push_vapid_subject: Web Push VAPID key (PEM) and contact
        (mailto: or https: URL).
    push_tls_ca_file: CA bundle the senders verify the services against; empty = the
        system's (tests point it at their self-signed local servers).
    push_webpush_hosts: the Web Push services an endpoint may name (comma-separated in
        HUBBUB_PUSH_WEBPUSH_HOSTS): exact hosts, `*.domain` patterns or `*`; a pattern never
        admits localhost or an internal address, literal or resolved (kernel/webpush_hosts.py).
        Read by the edge at registration and by the sender at connect time. Default: the
        browsers' push services. A service inside the network (or a test's) is named exactly.
    """

    push_content: str = ContentPolicy.GENERIC.value
    push_user_rate_per_minute: float = 30.0
    push_user_burst: int = 10
    push_retry_base_ms: int = 1_000
    push_retry_cap_ms: int = 300_000
    push_max_attempts: int = 10
    push_max_in_flight: int = 32
    push_sent_memory_s: int = 86_400
    push_fcm_project_id: str = ""
    push_fcm_credentials_file: str = ""
    push_fcm_base_url: str = "https://fcm.googleapis.com"
    push_apns_key_file: str = ""
    push_apns_key_id: str = ""
    push_apns_team_id: str = ""
    push_apns_base_url: str = ""
    push_vapid_private_key_file: str = ""
    push_vapid_subject: str = ""
    push_tls_ca_file: str = ""
    push_webpush_hosts: tuple[str, ...] = DEFAULT_WEBPUSH_HOSTS

    def __post_init__(self) -> None:
        check_choice("push_content", self.push_content, [p.value for p in ContentPolicy])
        check(
            self.push_user_rate_per_minute > 0,
            "push_user_rate_per_minute",
            "> 0",
            self.push_user_rate_per_minute,
        )
        check(self.push_user_burst >= 1, "push_user_burst", ">= 1", self.push_user_burst)
        check(self.push_retry_base_ms >= 1, "push_retry_base_ms", ">= 1", self.push_retry_base_ms)
        check(
            self.push_retry_cap_ms >= self.push_retry_base_ms,
            "push_retry_cap_ms",
            ">= base",
            self.push_retry_cap_ms,
        )
        check(self.push_max_attempts >= 1, "push_max_attempts", ">= 1", self.push_max_attempts)
        check(self.push_max_in_flight >= 1, "push_max_in_flight", ">= 1", self.push_max_in_flight)
        hosts = self.push_webpush_hosts
        check(bool(hosts), "push_webpush_hosts", "at least one host", hosts)

    @property
    def content_policy(self) -> ContentPolicy:
        return ContentPolicy(self.push_content)
