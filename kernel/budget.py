"""How many leading items fit a byte budget: the one rule behind every page and batch that
is cut by size (reply pages, presence reports), so every cut behaves alike."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


def fit_count(sizes: Iterable[int], budget: int, *, at_least_one: bool = True) -> int:
    """How many leading items (encoded sizes, in order) fit in `budget` bytes. At least one
    when `at_least_one` (and there is one), even past the budget: a page or batch that holds
    nothing would leave its reader paging, or its writer retrying, in place forever."""
    total = 0
    count = 0
    for size in sizes:
        total += size
        if total > budget and (count or not at_least_one):
            break
        count += 1
    return count


def split_by_bytes(items: Sequence[T], sizes: Sequence[int], budget: int) -> list[Sequence[T]]:
    """`items` cut into consecutive parts of at most `budget` bytes each (an item larger than
    the budget travels alone); no items gives no parts."""
    parts: list[Sequence[T]] = []
    start = 0
    while start < len(items):
        count = fit_count(sizes[start:], budget)
        parts.append(items[start : start + count])
        start += count
    return parts
