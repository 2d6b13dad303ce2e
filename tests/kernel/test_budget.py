"""The byte-budget rules: leading items within a budget, parts by bytes, and the JSON growth
bound that reply pages are cut by (it must never undercount what a JSON client receives)."""

from __future__ import annotations

import orjson
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st

from kernel.budget import fit_count, json_growth, split_by_bytes
from protos import client_pb2 as pb


def test_parts_stay_within_the_budget_and_keep_order() -> None:
    items = list("abcdefg")
    sizes = [40, 40, 40, 200, 10, 10, 10]
    parts = split_by_bytes(items, sizes, 100)
    assert [list(p) for p in parts] == [["a", "b"], ["c"], ["d"], ["e", "f", "g"]]
    assert split_by_bytes([], [], 100) == []
    assert fit_count([200], 100) == 1 and fit_count([200], 100, at_least_one=False) == 0


@given(
    body=st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=300),
    payload=st.binary(max_size=300),
    sender=st.text(alphabet="abc_.-", max_size=32),
)
def test_json_growth_bounds_what_a_json_client_receives(body: str, payload: bytes, sender: str) -> None:
    message = pb.Message(
        conversation_id=2**63 - 1, seq=2**40, message_id=2**62, sender_id=sender, sender_device="d",
        client_msg_id="m" * 64, content_type="text/plain", body=body, payload=payload, sent_at_ms=2**41,
    )  # fmt: skip
    in_json = len(orjson.dumps(json_format.MessageToDict(message)))
    assert in_json <= message.ByteSize() + json_growth(body, payload)


def test_control_characters_are_counted_at_their_escaped_size() -> None:
    assert json_growth("\x01" * 1000) >= 5000
    assert json_growth("plain text") == json_growth("")
