"""One trace per message across every process of `hubbub up`, whatever the layout: the
spans the children export arrive beside the parent's, parented hop to hop, each naming its
process (`service.name` as a span attribute too, for stores that drop the resource)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.traced_node import hubbub_up, is_whole, one_message
from tests.otlp_sink import ReceivedSpan, otlp_sink


def the(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    (span,) = [s for s in spans if s.name == name]
    return span


SPLIT = {"edge": "hubbub-edge", "router": "hubbub-presence-router", "messaging": "hubbub-messaging"}


@pytest.mark.parametrize(
    ("layout", "services"),
    [
        ("edge/messaging", SPLIT),
        ("one", {"edge": "hubbub", "router": "hubbub", "messaging": "hubbub"}),
        ("messaging/presence+router/edge", SPLIT),
    ],
)
async def test_a_message_is_one_trace_across_every_process(
    tmp_path: Path, layout: str, services: dict[str, str]
) -> None:
    async with otlp_sink() as sink:
        args = ("--processes", layout, "--trace-exporter", "otlp", "--otlp-endpoint", sink.endpoint)
        async with hubbub_up(tmp_path, *args) as ready:
            trace_id = await one_message(ready["ws_url"])
            assert trace_id, "the pushed message carries its trace context"
            received = await sink.wait_for(
                lambda spans: (
                    is_whole([s.name for s in spans if s.trace_id == trace_id])
                    and any(s.links for s in spans)
                )  # and bob's delivered receipt
            )
    spans = [s for s in received if s.trace_id == trace_id]
    receive = the(spans, "edge.receive")
    persist = the(spans, "router.persist")
    commit = the(spans, "messaging.store_commit")
    fanout = the(spans, "router.fanout")
    ack = the(spans, "router.ack")
    assert receive.parent_id == ""  # the client sent no context: the edge starts the trace
    assert persist.parent_id == receive.span_id
    assert commit.parent_id == persist.span_id
    assert fanout.parent_id == receive.span_id and ack.parent_id == receive.span_id
    pushes = {s.parent_id for s in spans if s.name == "edge.push"}
    assert pushes == {fanout.span_id, ack.span_id}  # bob's message and alice's sent ack
    (to_bob,) = [s for s in spans if s.name == "edge.push" and s.parent_id == fanout.span_id]
    # bob's delivered receipt is its own trace, linked to the push of the message it acks
    (receipt,) = [s for s in received if s.links]
    assert receipt.name == "edge.receive" and receipt.trace_id != trace_id
    assert receipt.links == [(trace_id, to_bob.span_id)]
    for span in spans:
        room = span.name.split(".")[0]
        assert span.resource_service == services[room], span
        assert span.attributes["service.name"] == services[room], span


async def test_sampling_ratio_zero_traces_nothing(tmp_path: Path) -> None:
    async with otlp_sink() as sink:
        args = ("--trace-exporter", "otlp", "--otlp-endpoint", sink.endpoint, "--trace-sample-ratio", "0")
        async with hubbub_up(tmp_path, *args) as ready:
            assert await one_message(ready["ws_url"]) == ""
        assert sink.spans == []
