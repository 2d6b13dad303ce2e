"""How many leading items fit a byte budget: the one rule behind every page and batch that
is cut by size (reply pages, presence reports), so every cut behaves alike."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")

_CONTROL_BYTES = bytes(range(0x20))
_JSON_KEYS_PER_MESSAGE = 256
"""A message's field names, quotes, colons and commas in JSON, rounded up (ten fields)."""


def json_growth(text: str, payload: bytes = b"") -> int:
    """How many bytes more than its protobuf encoding a text and a payload take in proto3 JSON
    as the edge writes it: a control character is escaped to up to 6 bytes (\\u0001), `"` and
    `\\` to 2, bytes become base64 (4 per 3), and field names and quotes are added. An upper
    bound, computed in C (no per-character Python loop): 100,000 characters cost ~50 us."""
    encoded = text.encode()
    controls = len(encoded) - len(encoded.translate(None, _CONTROL_BYTES))
    escaped = encoded.count(b'"') + encoded.count(b"\\")
    base64_growth = -(-len(payload) // 3) * 4 - len(payload)
    return 5 * controls + escaped + base64_growth + _JSON_KEYS_PER_MESSAGE


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
