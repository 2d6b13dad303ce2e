"""A bound on a whole test step that says, when it is hit, where every task of the loop was
waiting: a hang under load (an await with no bound somewhere) fails with its place named
instead of pytest's 120-s timeout showing only a loop idle in select."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


def task_stacks() -> str:
    """Each pending task of the running loop and the await it is suspended in."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.print_stack(limit=8, file=out)
    return out.getvalue()


@asynccontextmanager
async def bounded(seconds: float, what: str) -> AsyncIterator[None]:
    """Fail (AssertionError, chained to where this task was cut off) if the block takes longer
    than `seconds`, listing where the other tasks were waiting."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as error:
        raise AssertionError(
            f"{what} did not end within {seconds:.0f} s; the tasks:\n{task_stacks()}"
        ) from error
