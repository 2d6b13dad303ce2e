"""Child process of the durability test: appends to a SqliteStore until killed, printing
`<seq> <client_msg_id>` for each append as soon as it returns (i.e. once it is durable).

Run as `python -m tests.messaging.store.durability_writer DB`. Bounded: it stops by itself
after a few minutes or MAX_MESSAGES, in case nobody kills it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from messaging.model import Conversation, ConversationKind, Member, NewMessage, Role
from messaging.store.sqlite import SqliteStore

CONVERSATION_ID = 1
SENDER = "writer"
SENDERS = 16
MAX_MESSAGES = 200_000
MAX_SECONDS = 180.0


def client_msg_id(n: int) -> str:
    return f"m{n}"


def new_message(n: int) -> NewMessage:
    return NewMessage(
        CONVERSATION_ID, SENDER, "dev", client_msg_id(n), "text/plain", f"body {n}", b"", n + 1, n
    )


async def run(path: Path) -> None:
    store = SqliteStore(path)
    await store.open()
    now = int(time.time() * 1000)
    conversation = Conversation(CONVERSATION_ID, ConversationKind.GROUP, "durability", SENDER, now)
    await store.create_group(conversation, [Member(SENDER, Role.OWNER, now)])
    print("ready", flush=True)
    counter = iter(range(MAX_MESSAGES))
    deadline = time.monotonic() + MAX_SECONDS
    out = sys.stdout

    async def sender() -> None:
        for n in counter:
            if time.monotonic() > deadline:
                return
            (outcome,) = await store.append([new_message(n)])
            out.write(f"{outcome.message.seq} {outcome.message.client_msg_id}\n")
            out.flush()

    await asyncio.gather(*(sender() for _ in range(SENDERS)))
    await store.close()


if __name__ == "__main__":
    asyncio.run(run(Path(sys.argv[1])))
