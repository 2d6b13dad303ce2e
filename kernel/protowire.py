"""Protobuf wire-format pieces for hot paths that splice pre-encoded bytes instead of
building messages (the edge's router link, the load generator's frames)."""

from __future__ import annotations

_SMALL = [bytes((n,)) for n in range(0x80)]


def varint(value: int) -> bytes:
    """Base-128 varint of a non-negative integer, as protobuf encodes lengths and uint64s."""
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
