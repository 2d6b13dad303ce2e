"""The stores' read bound: every row the exact cut could keep, and one more."""

from __future__ import annotations

from collections.abc import Iterator

from messaging.model import StoredMessage
from messaging.store.read_budget import ReadBudget, size_lower_bound


def row(seq: int, body: str = "", payload: bytes = b"") -> StoredMessage:
    return StoredMessage(1, seq, seq, "u", "d", f"c{seq}", "", body, payload, 0)


def test_the_bound_counts_characters_and_payload_bytes() -> None:
    assert size_lower_bound(row(1, "\U0001f600" * 3, b"xy")) == 5


def test_reads_stop_one_row_past_the_budget_and_then_read_nothing() -> None:
    budget = ReadBudget(25)
    assert [r.seq for r in budget.take(row(s, "x" * 10) for s in range(1, 10))] == [1, 2, 3, 4]
    assert budget.done and budget.take([row(10)]) == []


def test_the_budget_spans_several_reads() -> None:
    budget = ReadBudget(25)
    assert [r.seq for r in budget.take([row(1, "x" * 20)])] == [1]
    assert [r.seq for r in budget.take([row(2, "x" * 20), row(3), row(4)])] == [2, 3]
    assert budget.take([row(5)]) == []


def test_zero_is_unbounded() -> None:
    budget = ReadBudget()
    assert len(budget.take(row(s, "x" * 10**6) for s in range(50))) == 50 and not budget.done


def test_rows_past_the_stop_are_never_read() -> None:
    read: list[int] = []

    def rows() -> Iterator[StoredMessage]:
        for seq in range(1, 100):
            read.append(seq)
            yield row(seq, "x" * 100)

    ReadBudget(150).take(rows())
    assert read == [1, 2, 3]


def test_reads_that_found_something_are_counted() -> None:
    budget = ReadBudget(max_reads=2)
    assert budget.take([]) == [] and not budget.done
    assert len(budget.take([row(1), row(2)])) == 2 and not budget.done
    assert len(budget.take([row(3)])) == 1 and budget.done
    assert budget.take([row(4)]) == []
