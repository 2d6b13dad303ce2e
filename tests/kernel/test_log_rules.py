"""Properties of the owner's pure rules (kernel/log_rules.py): numbering is gap-free and
stores each dedupe key once under any mix of batches, retries and duplicates; cursors never
move back and read implies delivered; seals never lower; the highest epoch at a seq wins."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from kernel import log_rules

# an item = (conversation, client_msg_id) from small pools, so retries and duplicates abound
items = st.tuples(st.integers(1, 3), st.integers(0, 7))
batches = st.lists(st.lists(items, max_size=8), max_size=10)


@given(batches)
def test_numbering_is_gap_free_and_stores_each_key_once(batches: list[list[tuple[int, int]]]) -> None:
    last: dict[int, int] = {1: 0, 2: 0, 3: 0}
    log: dict[tuple[int, int], tuple[int, int]] = {}  # key -> (conversation, seq), as stored
    for batch in batches:
        keyed = [(cid, (cid, key)) for cid, key in batch]
        numbering = log_rules.number(keyed, last, log.keys())
        assert len(numbering.seqs) == len(batch)
        before, seen = set(log), set()
        for (cid, key), seq in zip(keyed, numbering.seqs, strict=True):
            assert (seq == 0) == (key in before or key in seen)  # a repeat, and only a repeat, takes none
            seen.add(key)
            if seq:
                log[key] = (cid, seq)
        last.update(numbering.last_seqs)
        # every key of the batch is stored after it, new or repeated
        assert all(key in log for _, key in keyed)
    for cid in last:
        stored = sorted(seq for c, seq in log.values() if c == cid)
        assert stored == list(range(1, last[cid] + 1))  # 1..N, no gap, no seq twice


@given(batches)
def test_a_retried_batch_takes_no_seq(batches: list[list[tuple[int, int]]]) -> None:
    last: dict[int, int] = {1: 0, 2: 0, 3: 0}
    stored: set[tuple[int, int]] = set()
    for batch in batches:
        keyed = [(cid, (cid, key)) for cid, key in batch]
        first = log_rules.number(keyed, last, stored)
        stored |= {key for _, key in keyed}
        last.update(first.last_seqs)
        retry = log_rules.number(keyed, last, stored)
        assert retry.seqs == [0] * len(keyed)
        assert retry.last_seqs == {cid: last[cid] for cid, _ in keyed}


updates = st.lists(st.tuples(st.booleans(), st.integers(0, 50)), max_size=30)


@given(updates)
def test_cursors_are_monotonic_and_read_implies_delivered(updates: list[tuple[bool, int]]) -> None:
    delivered = read = 0
    for is_read, seq in updates:
        after_delivered, after_read, moved = log_rules.advance_cursor(
            delivered, read, is_read=is_read, seq=seq
        )
        assert after_delivered >= delivered and after_read >= read
        assert after_delivered >= after_read
        assert moved == ((after_read > read) if is_read else (after_delivered > delivered))
        if is_read:
            assert after_read == max(read, seq)
        delivered, read = after_delivered, after_read


@given(st.lists(st.integers(0, 20), max_size=20), st.integers(0, 20))
def test_seals_never_lower_and_admit_only_current_or_newer(seals: list[int], writer: int) -> None:
    sealed = 0
    for epoch in seals:
        after, refused = log_rules.seal(sealed, epoch)
        assert after == max(sealed, epoch)
        assert refused == (epoch < sealed)
        sealed = after
    assert log_rules.admits(sealed, writer) == (writer >= sealed)
    assert log_rules.admits(0, 0)


@dataclass(frozen=True)
class Row:
    seq: int
    epoch: int
    body: str


@given(st.lists(st.tuples(st.integers(1, 6), st.integers(0, 4)), max_size=20))
def test_the_highest_epoch_at_a_seq_is_the_message(rows: list[tuple[int, int]]) -> None:
    log = [Row(seq, epoch, f"{seq}@{epoch}") for seq, epoch in dict.fromkeys(rows)]
    won = log_rules.winners(log)
    assert [r.seq for r in won] == sorted({r.seq for r in log})
    for row in won:
        assert row.epoch == max(r.epoch for r in log if r.seq == row.seq)
    assert log_rules.last_seq_of(log) == max((r.seq for r in log), default=0)


fences = st.lists(st.builds(log_rules.Fence, st.integers(1, 4), st.integers(0, 6)), max_size=3)


@given(st.lists(st.tuples(st.integers(1, 6), st.integers(0, 4)), max_size=20), fences)
def test_a_row_above_a_newer_fence_is_never_visible(
    rows: list[tuple[int, int]], marks: list[log_rules.Fence]
) -> None:
    log = [Row(seq, epoch, f"{seq}@{epoch}") for seq, epoch in dict.fromkeys(rows)]
    seen = log_rules.visible(log, marks)
    for row in seen:
        assert not any(f.epoch > row.epoch and row.seq > f.last_seq for f in marks)
    # Hidden rows aside, the highest epoch at each seq still wins, in seq order.
    kept = [r for r in log if not log_rules.fenced_off(r.seq, r.epoch, marks)]
    assert seen == log_rules.winners(kept)
    assert log_rules.visible(log, []) == log_rules.winners(log)


def test_a_new_owner_s_rows_and_the_history_it_read_stay_visible() -> None:
    """Owner 1 wrote seqs 1..3, owner 2 fenced at (2, 3) and wrote 4; owner 1's late writes
    at 4 and 5 are hidden, its history (1..3) is not."""
    log = [
        Row(1, 1, "a"),
        Row(2, 1, "b"),
        Row(3, 1, "c"),
        Row(4, 2, "d"),
        Row(4, 1, "late"),
        Row(5, 1, "late"),
    ]
    seen = log_rules.visible(log, [log_rules.Fence(2, 3)])
    assert [r.body for r in seen] == ["a", "b", "c", "d"]
