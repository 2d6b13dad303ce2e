"""`hubbub bench codec`: CPU µs per frame of the JSON subprotocol's codec for the frames that
dominate a chat (SendMessage in; Message, Sent, Receipt out), by each way of doing it: protobuf's
json_format, the edge's hand-kept mapping (edge/json_frames.py) with orjson, and msgspec structs
with the same mapping; binary protobuf beside them. Process CPU time, so load distorts it little.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format

from bench.report import table
from bench.stepped import emit
from edge.codec import JSON, encode_json
from edge.json_frames import client_frame
from protos import client_pb2 as pb

BODY = "t=1764600000000000000;n=12345"  # a bench body: as long as a short chat line
SEND = pb.ClientFrame(
    ref=123_456, send=pb.SendMessage(conversation_id=2**40 + 7, client_msg_id="3.12345", body=BODY)
)
OUT: dict[str, pb.ServerFrame] = {
    "Message out": pb.ServerFrame(
        message=pb.Message(
            conversation_id=2**40 + 7, seq=99_001, message_id=2**62 + 12_345, sender_id="b1f2e3-17a",
            sender_device="bench", client_msg_id="3.12345", content_type="text/plain", body=BODY,
            sent_at_ms=1_764_600_000_000,
        )
    ),
    "Sent out": pb.ServerFrame(
        ref=123_456,
        sent=pb.Sent(
            conversation_id=2**40 + 7, seq=99_001, message_id=2**62 + 12_345, client_msg_id="3.12345",
            sent_at_ms=1_764_600_000_000,
        ),
    ),
    "Receipt out": pb.ServerFrame(
        receipt=pb.Receipt(
            conversation_id=2**40 + 7, user_id="b1f2e3-17b", kind=pb.RECEIPT_KIND_DELIVERED,
            up_to_seq=99_001, device_id="bench",
        )
    ),
}  # fmt: skip


def cpu_us_per_call(fn: Callable[[], object], seconds: float) -> float:
    """The best of five rounds of CPU µs per call, each round about seconds / 5 of CPU."""
    calls = 100
    while True:  # size a round
        start = time.process_time_ns()
        for _ in range(calls):
            fn()
        spent = time.process_time_ns() - start
        if spent > 20_000_000:
            break
        calls *= 4
    per_round = max(calls, int(calls * seconds / 5 / (spent / 1e9)))
    best = float("inf")
    for _ in range(5):
        start = time.process_time_ns()
        for _ in range(per_round):
            fn()
        best = min(best, (time.process_time_ns() - start) / per_round / 1e3)
    return round(best, 2)


def json_format_decode(text: bytes) -> pb.ClientFrame:
    frame = pb.ClientFrame()
    json_format.ParseDict(orjson.loads(text), frame, ignore_unknown_fields=True)
    return frame


def fast_decode(text: bytes) -> pb.ClientFrame:
    frame = client_frame(orjson.loads(text))
    assert frame is not None
    return frame


def candidates() -> dict[str, dict[str, Callable[[], object]]]:
    """frame -> way -> one call converting it (each checked to give json_format's answer)."""
    text = orjson.dumps(json_format.MessageToDict(SEND))
    binary = SEND.SerializeToString()
    ways: dict[str, dict[str, Callable[[], object]]] = {
        "SendMessage in": {
            "json_format": lambda: json_format_decode(text),
            "hand-kept mapping + orjson": lambda: fast_decode(text),
            "edge JsonCodec.decode": lambda: JSON.decode(text),
            "binary protobuf": lambda: pb.ClientFrame.FromString(binary),
        }
    }
    assert fast_decode(text) == json_format_decode(text) == SEND
    for name, frame in OUT.items():
        expected = orjson.dumps(json_format.MessageToDict(frame))
        assert encode_json(frame) == expected
        ways[name] = {
            "json_format": lambda f=frame: orjson.dumps(json_format.MessageToDict(f)),  # type: ignore[misc]
            "hand-kept mapping + orjson": lambda f=frame: encode_json(f),  # type: ignore[misc]
            "binary protobuf": lambda f=frame: f.SerializeToString(),  # type: ignore[misc]
        }
    _add_msgspec(ways, text)
    return ways


def _add_msgspec(ways: dict[str, dict[str, Callable[[], object]]], text: bytes) -> None:
    """msgspec structs with the same mapping (camelCase, 64-bit ints as strings), to the same
    protobuf objects the edge works on; skipped when msgspec is not installed."""
    try:
        from bench import codec_msgspec
    except ImportError:
        return
    assert codec_msgspec.decode_send(text) == SEND
    ways["SendMessage in"]["msgspec structs"] = lambda: codec_msgspec.decode_send(text)
    for name, frame in OUT.items():
        expected = orjson.loads(orjson.dumps(json_format.MessageToDict(frame)))
        assert orjson.loads(codec_msgspec.encode(frame)) == expected, name
        ways[name]["msgspec structs"] = lambda f=frame: codec_msgspec.encode(f)  # type: ignore[misc]


def run(seconds: float) -> dict[str, Any]:
    results: dict[str, dict[str, float]] = {}
    for frame, ways in candidates().items():
        results[frame] = {way: cpu_us_per_call(fn, seconds) for way, fn in ways.items()}
    return {"workload": "codec", "cpu_us_per_frame": results}


def markdown(result: dict[str, Any]) -> str:
    rows: list[list[Any]] = []
    for frame, ways in result["cpu_us_per_frame"].items():
        base = ways["json_format"]
        for way, us in ways.items():
            rows.append([frame, way, us, f"{base / us:.1f}x" if us else "—"])
    return "\n".join(table(["frame", "codec", "CPU µs per frame", "vs json_format"], rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubbub bench codec", description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per measurement (default 1)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    result = run(args.seconds)
    print(markdown(result), file=sys.stderr)
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
