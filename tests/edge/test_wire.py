"""Hand-encoded EdgeBatch bytes parse to exactly what protobuf would build."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge import wire
from protos import client_pb2 as pb
from protos import router_pb2 as rpb

refs = st.builds(
    rpb.SessionRef,
    session_id=st.integers(0, 2**64 - 1),
    user_id=st.text(max_size=40),
    device_id=st.text(max_size=70),
)
frames = st.builds(
    lambda ref, cid, body: pb.ClientFrame(
        ref=ref, send=pb.SendMessage(conversation_id=cid, client_msg_id="m", body=body)
    ),
    st.integers(0, 2**64 - 1),
    st.integers(1, 2**64 - 1),
    st.text(max_size=300),
)


@given(st.text(min_size=1, max_size=200), refs, frames, st.booleans(), st.booleans())
def test_batch_parses_like_the_protobuf_built_one(
    edge_id: str, ref: rpb.SessionRef, frame: pb.ClientFrame, replay: bool, graceful: bool
) -> None:
    session = wire.session_field(ref)
    data = wire.encode_batch(
        wire.batch_header(edge_id),
        [
            wire.opened_item(session, replay),
            wire.frame_item(session, frame.SerializeToString()),
            wire.closed_item(session, graceful),
        ],
    )
    expected = rpb.EdgeBatch(edge_id=edge_id)
    expected.items.add(session=ref, opened=rpb.SessionOpened(replay=replay))
    expected.items.add(session=ref, frame=frame)
    expected.items.add(session=ref, closed=rpb.SessionClosed(graceful=graceful))
    parsed = rpb.EdgeBatch.FromString(data)
    assert parsed == expected
    assert [item.WhichOneof("kind") for item in parsed.items] == ["opened", "frame", "closed"]


def test_an_empty_batch_carries_the_edge_id() -> None:
    assert rpb.EdgeBatch.FromString(wire.encode_batch(wire.batch_header("e-1"), [])).edge_id == "e-1"
