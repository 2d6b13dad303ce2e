"""The senders a PushConfig asks for: each service whose credentials are set, none otherwise
(then the log backend stays the node's notifier and `hubbub up` needs no credentials)."""

from __future__ import annotations

from kernel.push_targets import PushService
from router.push.apns import ApnsSender
from router.push.config import PushConfig
from router.push.fcm import FcmSender
from router.push.sender import PushSender
from router.push.webpush import WebPushSender


def senders_of(config: PushConfig) -> dict[PushService, PushSender]:
    senders: dict[PushService, PushSender] = {}
    ca = config.push_tls_ca_file
    if config.push_fcm_credentials_file:
        senders[PushService.FCM] = FcmSender(
            config.push_fcm_project_id,
            config.push_fcm_credentials_file,
            base_url=config.push_fcm_base_url,
            ca_file=ca,
        )
    if config.push_apns_key_file:
        senders[PushService.APNS] = ApnsSender(
            config.push_apns_key_file,
            config.push_apns_key_id,
            config.push_apns_team_id,
            base_url=config.push_apns_base_url,
            ca_file=ca,
        )
    if config.push_vapid_private_key_file:
        senders[PushService.WEBPUSH] = WebPushSender(
            config.push_vapid_private_key_file,
            config.push_vapid_subject,
            ca_file=ca,
            allowed_hosts=config.push_webpush_hosts,
        )
    return senders
