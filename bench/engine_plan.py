"""Who talks to whom in a stepped workload, identical in every generator process: the
conversations (online and offline members), which process holds which user, who receives whom.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from bench.client_socket import DEFAULT_CLIENT


@dataclass(frozen=True)
class Conversation:
    online: tuple[str, ...]
    offline: tuple[str, ...] = ()
    group: bool = False


@dataclass(frozen=True)
class Plan:
    url: str
    conversations: tuple[Conversation, ...]
    echo: bool = False  # baseline: each user's frames come back to itself
    json: bool = False  # the JSON subprotocol (what browsers speak) instead of binary protobuf
    client: str = DEFAULT_CLIENT  # the generator's WebSocket library (bench/client_socket.py)
    password: str = "bench-password-1"
    signup_concurrency: int = 16

    @cached_property
    def _online(self) -> list[str]:
        return [name for c in self.conversations for name in c.online]

    @cached_property
    def _conversation_of(self) -> dict[str, Conversation]:
        return {name: c for c in self.conversations for name in c.online}

    def online_count(self) -> int:
        return len(self._online)

    def users_of(self, worker: int, processes: int) -> list[str]:
        """Online users held by `worker`: every `processes`-th one."""
        return self._online[worker::processes]

    def offline_users(self) -> list[str]:
        return [name for c in self.conversations for name in c.offline]

    def senders_to(self, receiver: str) -> list[str]:
        """Whose messages `receiver` gets pushed: the other online members (itself, for echo)."""
        if self.echo:
            return [receiver]
        return [s for s in self._conversation_of[receiver].online if s != receiver]

    def receivers_of(self, sender: str) -> list[str]:
        if self.echo:
            return [sender]
        return [r for r in self._conversation_of[sender].online if r != sender]


def pairs(prefix: str, users: int) -> tuple[Conversation, ...]:
    """W1: users/2 direct conversations of two."""
    return tuple(Conversation((f"{prefix}-{i}a", f"{prefix}-{i}b")) for i in range(users // 2))


def group(prefix: str, members: int, online: int) -> Conversation:
    """W2: one group of `members`, the first `online` of them connected."""
    names = tuple(f"{prefix}-m{i}" for i in range(members))
    return Conversation(names[:online], names[online:], group=True)


def echoes(prefix: str, users: int) -> tuple[Conversation, ...]:
    """Baseline: one connection per user, talking to itself through the echo server."""
    return tuple(Conversation((f"{prefix}-e{i}",)) for i in range(users))
