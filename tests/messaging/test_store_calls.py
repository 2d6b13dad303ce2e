"""messaging/store_calls.isolated, the one rule Append and UpdateCursors share: one store call
for the batch, else each item on its own, in order, so a bad item fails only itself."""

from __future__ import annotations

from collections.abc import Sequence

from kernel.errors import ErrorCode, HubbubError, StaleOwner, Unavailable
from messaging.store_calls import isolated


class Store:
    """Stores ints; fails a call holding `bad`, or every call with `error`."""

    def __init__(self, bad: int = -1, error: Exception | None = None) -> None:
        self.calls: list[list[int]] = []
        self.bad, self.error = bad, error

    async def __call__(self, items: Sequence[int]) -> list[str]:
        self.calls.append(list(items))
        if self.error is not None:
            raise self.error
        if self.bad in items:
            raise OverflowError("this item does not fit")
        return [f"stored {i}" for i in items]


def codes(results: Sequence[str | HubbubError]) -> list[str]:
    return [r.code.value if isinstance(r, HubbubError) else r for r in results]


async def test_one_call_for_a_batch_the_store_takes() -> None:
    store = Store()
    assert await isolated(store, [1, 2]) == ["stored 1", "stored 2"]
    assert store.calls == [[1, 2]]


async def test_a_bad_item_fails_alone_and_the_others_are_stored_in_order() -> None:
    store = Store(bad=2)
    assert codes(await isolated(store, [1, 2, 3])) == ["stored 1", ErrorCode.INTERNAL.value, "stored 3"]
    assert store.calls == [[1, 2, 3], [1], [2], [3]]


async def test_a_store_that_is_down_fails_the_batch_without_retrying_each() -> None:
    store = Store(error=Unavailable("down"))
    assert codes(await isolated(store, [1, 2])) == [ErrorCode.UNAVAILABLE.value] * 2
    assert store.calls == [[1, 2]]


async def test_an_error_that_asks_for_it_retries_each_at_once() -> None:
    store = Store(error=StaleOwner("stale"))
    results = await isolated(store, [1, 2], at_once=lambda exc: isinstance(exc, StaleOwner))
    assert codes(results) == [ErrorCode.STALE_OWNER.value] * 2
    assert store.calls == [[1, 2], [1], [2]]
