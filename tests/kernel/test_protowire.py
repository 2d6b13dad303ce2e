from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kernel.protowire import varint
from protos import client_pb2 as pb


@given(st.integers(0, 2**64 - 1))
def test_varint_matches_protobuf(value: int) -> None:
    expected = pb.ClientFrame(ref=value).SerializeToString()[1:] if value else b"\x00"
    assert varint(value) == expected
