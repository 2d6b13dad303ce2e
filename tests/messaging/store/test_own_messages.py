from __future__ import annotations

from messaging.model import Cursors, StoredMessage
from messaging.store.own_messages import OwnRun, advance_over_own, own_runs


def stored(conversation_id: int, seq: int, sender: str) -> StoredMessage:
    return StoredMessage(conversation_id, seq, seq, sender, "d", f"{sender}{seq}", "text/plain", "x", b"", 0)


def test_runs_are_consecutive_seqs_of_one_sender_per_conversation() -> None:
    batch = [stored(1, 3, "a"), stored(2, 1, "a"), stored(1, 1, "a"), stored(1, 2, "a"), stored(1, 4, "b")]
    assert own_runs(batch) == [OwnRun(1, "a", 1, 3), OwnRun(1, "b", 4, 4), OwnRun(2, "a", 1, 1)]


def test_a_cursor_moves_only_from_the_start_of_the_run() -> None:
    run = OwnRun(1, "a", 5, 7)
    assert advance_over_own(Cursors("a", 1, 4, 4), run) == Cursors("a", 1, 7, 7)
    assert advance_over_own(Cursors("a", 1, 4, 2), run) == Cursors("a", 1, 7, 2)
    assert advance_over_own(Cursors("a", 1, 9, 3), run) == Cursors("a", 1, 9, 3)
