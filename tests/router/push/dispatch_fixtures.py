"""What the dispatcher tests share: targets, notifications, a settable clock and a scripted sender."""

from __future__ import annotations

from collections.abc import Iterable

from kernel.push_targets import PushService, PushTarget
from router.push import PushNotification
from router.push.rules import PushContent, SendResult, Verdict
from router.push.sender import MemoryPushSender

PHONE = PushTarget("ann", "phone", PushService.FCM, "fcm-token-ann")
LAPTOP = PushTarget("ann", "laptop", PushService.WEBPUSH, "https://push.test/ann", p256dh="p", auth="a")
BEN_PHONE = PushTarget("ben", "phone", PushService.APNS, "ab" * 32, apns_topic="chat.app")


def note(seq: int, user: str = "ann", conversation: int = 1, encrypted: bool = False) -> PushNotification:
    return PushNotification(user, conversation, seq, 1000 * conversation + seq, "cat", f"hi {seq}", encrypted)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


class ScriptedSender(MemoryPushSender):
    """Answers each send with the next scripted result (SENT once the script runs out); every
    attempt is recorded in `attempts`, the successful ones in `sent`."""

    def __init__(self, script: Iterable[SendResult] = ()) -> None:
        super().__init__()
        self.script = list(script)
        self.attempts: list[tuple[PushTarget, PushContent]] = []

    async def send(self, target: PushTarget, content: PushContent) -> SendResult:
        self.attempts.append((target, content))
        if self.script:
            result = self.script.pop(0)
            if result.verdict is not Verdict.SENT:
                return result
        return await super().send(target, content)
