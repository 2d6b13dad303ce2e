"""Typed configuration: frozen dataclasses with documented defaults, overridable from
environment variables (`HUBBUB_<FIELD>` in upper case), validated at start-up."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from kernel.errors import InvalidArgument

T = TypeVar("T")


def _convert(raw: str, kind: Any, name: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if raw == "":
            return None
        return _convert(raw, options[0], name)
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise InvalidArgument(f"{name}: expected a boolean, got {raw!r}")
    if kind is int:
        try:
            return int(raw)
        except ValueError as exc:
            raise InvalidArgument(f"{name}: expected an integer, got {raw!r}") from exc
    if kind is float:
        try:
            return float(raw)
        except ValueError as exc:
            raise InvalidArgument(f"{name}: expected a number, got {raw!r}") from exc
    if kind is Path:
        return Path(raw)
    if kind is str:
        return raw
    if origin is tuple:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    raise InvalidArgument(f"{name}: unsupported config type {kind!r}")


def from_env(
    cls: type[T], prefix: str = "HUBBUB_", env: Mapping[str, str] | None = None, **overrides: Any
) -> T:
    """Build `cls` from its defaults, then env vars, then explicit overrides (in that order)."""
    source = os.environ if env is None else env
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = prefix + field.name.upper()
        if key in source:
            values[field.name] = _convert(source[key], hints[field.name], key)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**values)
