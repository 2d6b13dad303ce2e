"""The committed generated code must be what `python -m protos.generate` produces now."""

from __future__ import annotations

from pathlib import Path

from protos.generate import PROTO_DIR, generate


def test_generated_code_matches_the_proto_files(tmp_path: Path) -> None:
    generate(tmp_path)
    fresh = {p.name: p.read_text() for p in (tmp_path / "protos").iterdir() if "_pb2" in p.name}
    committed = {p.name: p.read_text() for p in PROTO_DIR.iterdir() if "_pb2" in p.name}
    assert fresh, "protoc generated nothing"
    stale = sorted(name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name))
    assert not stale, f"generated code is stale, run `python -m protos.generate`: {stale}"


def test_every_envelope_kind_has_a_unique_field_number() -> None:
    from protos import client_pb2

    for envelope in (client_pb2.ClientFrame, client_pb2.ServerFrame):
        kind = envelope.DESCRIPTOR.oneofs_by_name["kind"]
        numbers = [f.number for f in kind.fields]
        assert len(numbers) == len(set(numbers))
        assert len(numbers) >= 14
