"""One store call for a batch, else each item on its own, in order: so one item the store
cannot take fails only itself, never its batch (Append's messages, UpdateCursors' updates)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from kernel.errors import ErrorCode, HubbubError, Internal

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


def _never(exc: Exception) -> bool:
    return False


async def isolated(
    store: Callable[[list[T]], Awaitable[Sequence[R]]],
    items: list[T],
    *,
    at_once: Callable[[Exception], bool] = _never,
) -> list[R | HubbubError]:
    """One result per item, in order: one `store` call for the batch; should it fail, each item
    in a call of its own, one after another, or all submitted at once (in order) where
    `at_once(error)` says so (a group-committing store then commits them together). A batch
    of one keeps its error, and a store that refuses everything alike (UNAVAILABLE) fails
    every item with it, not worth retrying item by item."""
    try:
        return list(await store(items))
    except Exception as exc:  # noqa: BLE001 - isolated below, item by item
        if len(items) == 1:
            return [store_error(exc)]
        if at_once(exc):
            return await _each_at_once(store, items)
        if store_down(exc):
            return [store_error(exc)] * len(items)
    outcomes: list[R | HubbubError] = []
    for item in items:
        try:
            (outcome,) = await store([item])
        except Exception as exc:  # noqa: BLE001 - this item's error, not its neighbours'
            outcomes.append(store_error(exc))
        else:
            outcomes.append(outcome)
    return outcomes


async def _each_at_once(
    store: Callable[[list[T]], Awaitable[Sequence[R]]], items: list[T]
) -> list[R | HubbubError]:
    settled = await settle_each([store([item]) for item in items])
    return [result if isinstance(result, HubbubError) else result[0] for result in settled]


async def settle_each(calls: Sequence[Awaitable[R]]) -> list[R | HubbubError]:
    """Await the store calls together, one result each, in order: a call that fails gives its
    own error (store_error), never its neighbours'; a cancellation goes on up."""
    settled = await asyncio.gather(*calls, return_exceptions=True)
    outcomes: list[R | HubbubError] = []
    for result in settled:
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            outcomes.append(store_error(result))
        else:
            outcomes.append(result)
    return outcomes


def store_down(exc: Exception) -> bool:
    """Not worth retrying item by item: the store refuses everything alike."""
    return isinstance(exc, HubbubError) and exc.code is ErrorCode.UNAVAILABLE


def store_error(exc: Exception) -> HubbubError:
    if isinstance(exc, HubbubError):
        return exc
    log.error("store write failed", exc_info=exc)
    error = Internal("store write failed")
    error.__cause__ = exc
    return error
