"""Load-generator processes driven by the bench's parent: each obeys commands from its own
queue and answers on a shared one; the parent broadcasts a command and gathers every answer.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import SynchronizedArray

Command = tuple[Any, ...]
# (index, processes, counters, command) -> the answer's payload; ("stop",) ends the process.
Handler = Callable[[Command], Awaitable[Any]]
HandlerFactory = Callable[[int, int, "SynchronizedArray[int]"], Handler]


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


async def _obey(handler: Handler, index: int, commands: mp.Queue[Command], events: mp.Queue[Command]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, commands.get)
        payload = await handler(command)
        events.put((command[0], index, payload))
        if command[0] == "stop":
            return


def _process_main(
    factory: HandlerFactory,
    index: int,
    processes: int,
    commands: mp.Queue[Command],
    events: mp.Queue[Command],
    counters: SynchronizedArray[int],
) -> None:
    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:

            async def main() -> None:
                await _obey(factory(index, processes, counters), index, commands, events)

            runner.run(main())
    except Exception as exc:  # noqa: BLE001 - any failure goes to the parent, which raises it
        events.put(("error", index, f"{type(exc).__name__}: {exc}"))


class Pool:
    """`processes` spawned generator processes, each running `factory(index, processes, counters)`
    (a module-level function, so it pickles). Counters: two shared ints per process for progress."""

    def __init__(self, factory: HandlerFactory, processes: int) -> None:
        self.processes = max(1, processes)
        ctx = mp.get_context("spawn")
        self._events: mp.Queue[Command] = ctx.Queue()
        self._commands: list[mp.Queue[Command]] = [ctx.Queue() for _ in range(self.processes)]
        self.counters = ctx.Array("q", 2 * self.processes)
        self._workers = [
            ctx.Process(
                target=_process_main,
                args=(factory, i, self.processes, self._commands[i], self._events, self.counters),
                daemon=True,
            )
            for i in range(self.processes)
        ]

    def __enter__(self) -> Pool:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if all(w.is_alive() for w in self._workers):
            for commands in self._commands:
                commands.put(("stop",))
            for worker in self._workers:
                worker.join(timeout=20)
        for worker in self._workers:
            if worker.is_alive():
                worker.terminate()
                worker.join()

    def sums(self) -> tuple[int, int]:
        """The two progress counters, summed over the processes."""
        return sum(self.counters[0::2]), sum(self.counters[1::2])

    def reset(self) -> None:
        for k in range(len(self.counters)):
            self.counters[k] = 0

    def ask(
        self, command: Command | list[Command], timeout_s: float, tick: Callable[[], object] | None = None
    ) -> list[Any]:
        """Send `command` (or one per process) and return every process's answer, by index."""
        for index, commands in enumerate(self._commands):
            commands.put(command[index] if isinstance(command, list) else command)
        kind = command[0][0] if isinstance(command, list) else command[0]
        payloads: list[Any] = [None] * self.processes
        pending = set(range(self.processes))
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"generators {sorted(pending)} did not answer {kind!r} in {timeout_s:.0f} s"
                )
            try:
                got, index, payload = self._events.get(timeout=0.2)
            except queue.Empty:  # time to refresh the progress bar, and to notice dead workers
                if tick is not None:
                    tick()
                if not all(w.is_alive() for w in self._workers):
                    raise RuntimeError("a load generator process died") from None
                continue
            if got == "error":
                raise RuntimeError(f"load generator {index}: {payload}")
            payloads[index] = payload
            pending.discard(index)
        return payloads
