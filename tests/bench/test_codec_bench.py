"""`hubbub bench codec` measures every candidate on the hot frames, each checked first to give
json_format's answer."""

from __future__ import annotations

from bench.codec_bench import markdown, run


def test_every_hot_frame_is_measured_for_every_codec() -> None:
    result = run(seconds=0.01)
    frames = result["cpu_us_per_frame"]
    assert set(frames) == {"SendMessage in", "Message out", "Sent out", "Receipt out"}
    codecs = {"json_format", "hand-kept mapping + orjson", "msgspec structs", "binary protobuf"}
    for ways in frames.values():
        assert codecs <= ways.keys()
        assert all(us > 0 for us in ways.values())
    assert "| Message out | json_format |" in markdown(result)
