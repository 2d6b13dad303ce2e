"""Typed configuration: frozen dataclasses with documented defaults, overridable from
environment variables (`HUBBUB_<FIELD>` in upper case) and command-line flags derived from
the same fields, validated at start-up (in `__post_init__`, raising InvalidArgument)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import inspect
import itertools
import os
import textwrap
import types
import typing
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from kernel.errors import InvalidArgument

T = TypeVar("T")
PREFIX = "HUBBUB_"


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
        return Path(raw).expanduser()
    if kind is str:
        return raw
    if origin is tuple:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    raise InvalidArgument(f"{name}: unsupported config type {kind!r}")


def env_name(field: str, prefix: str = PREFIX) -> str:
    return prefix + field.upper()


def from_env(cls: type[T], prefix: str = PREFIX, env: Mapping[str, str] | None = None, **overrides: Any) -> T:
    """Build `cls` from its defaults, then env vars, then explicit overrides (in that order)."""
    source = os.environ if env is None else env
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = env_name(field.name, prefix)
        if key in source:
            values[field.name] = _convert(source[key], hints[field.name], key)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**values)


def unknown_env(
    known: Iterable[str], prefix: str = PREFIX, env: Mapping[str, str] | None = None
) -> InvalidArgument | None:
    """The error for the first `prefix*` variable that names no option (a typo must not be
    silently ignored), with the closest valid name; None when every one is known."""
    source = os.environ if env is None else env
    names = sorted(set(known))
    bare = {name.removeprefix(prefix): name for name in names}  # the shared prefix matches anything
    for key in sorted(k for k in source if k.startswith(prefix) and k not in names):
        close = difflib.get_close_matches(key.removeprefix(prefix), list(bare), n=1, cutoff=0.6)
        hint = f" (did you mean {bare[close[0]]}?)" if close else f" (known: {', '.join(names)})"
        return InvalidArgument(f"unknown environment variable {key}{hint}")
    return None


def env_names(cls: type[Any], prefix: str = PREFIX) -> list[str]:
    return [env_name(f.name, prefix) for f in dataclasses.fields(cls)]


# ------------------------------------------------------------------ validation


def default_data_dir() -> Path:
    """One place per user, whatever folder `hubbub up` starts in: a relative ./data made a
    node started elsewhere come back empty (clients could no longer log in). `hubbub up` and
    the admin CLI (which reads the internal secret there) both default to it."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser().absolute() / "hubbub"


def check(ok: bool, option: str, rule: str, value: object) -> None:
    """The one way a config says no: InvalidArgument naming the option, the rule and the value."""
    if not ok:
        raise InvalidArgument(f"{option} must be {rule}, not {value!r}")


def check_choice(option: str, value: str, choices: Collection[str]) -> None:
    check(value in choices, option, f"one of {', '.join(choices)}", value)


# ------------------------------------------------------------------ flags


def field_docs(cls: type[Any]) -> dict[str, str]:
    """Each field's docstring (the string literal right after it), read from the source:
    the one place an option is documented feeds both the reader and `--help`."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _flag_type(kind: Any, flag: str) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            return _convert(raw, kind, flag)
        except InvalidArgument as exc:
            raise argparse.ArgumentTypeError(exc.message.removeprefix(f"{flag}: ")) from exc

    parse.__name__ = getattr(kind, "__name__", str(kind))  # argparse names it in errors
    return parse


def _read_secret_file(flag: str) -> Callable[[str], str]:
    def read(raw: str) -> str:
        try:
            secret = Path(raw).expanduser().read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise argparse.ArgumentTypeError(f"cannot read {raw!r}: {getattr(exc, 'strerror', exc)}") from exc
        if not secret:
            raise argparse.ArgumentTypeError(f"{raw!r} is empty")
        return secret

    read.__name__ = "PATH"
    return read


class _NoValueOnTheCommandLine(argparse.Action):
    """The flag a secret would have had: refused (exit 2), since `ps` shows every argument."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        env, flag = self.metavar, self.option_strings[0]
        parser.error(
            f"{flag} would show the secret to anyone on this machine (ps): use {flag}-file PATH or {env}"
        )


def add_config_flags(
    parser: argparse.ArgumentParser,
    cls: type[Any],
    *,
    aliases: Mapping[str, str] | None = None,
    hidden_defaults: Collection[str] = (),
    secret_files: Collection[str] = (),
    prefix: str = PREFIX,
) -> None:
    """One `--field-name` flag per field of `cls`, help from its docstring, default from its
    default, so a new option cannot lack a flag. Unset flags stay None (env and default apply).

    `aliases` adds a second spelling (field -> flag); `hidden_defaults` are fields whose
    default is not shown (secrets, or a default computed per machine); `secret_files` are
    fields set by `--field-name-file PATH` (the value read from that file) instead, never by
    a value on the command line (`--field-name X` is refused: `ps` would show it)."""
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        flag = "--" + field.name.replace("_", "-")
        if field.name in secret_files:
            about = f"{docs.get(field.name, '')} Read from the file PATH (env {env_name(field.name, prefix)})"
            parser.add_argument(
                flag + "-file",
                dest=field.name,
                type=_read_secret_file(flag + "-file"),
                metavar="PATH",
                default=None,
                help=about.strip().replace("%", "%%"),
            )
            parser.add_argument(
                flag,
                action=_NoValueOnTheCommandLine,
                nargs="?",
                metavar=env_name(field.name, prefix),
                dest="refused_" + field.name,
                help=argparse.SUPPRESS,
            )
            continue
        names = [flag]
        if aliases and field.name in aliases:
            names.append(aliases[field.name])
        notes = []
        if field.name not in hidden_defaults and field.default is not dataclasses.MISSING:
            default = field.default
            notes.append(f"default {('on' if default else 'off') if isinstance(default, bool) else default}")
        notes.append(f"env {env_name(field.name, prefix)}")
        about = f"{docs.get(field.name, '')} ({'; '.join(notes)})".strip().replace("%", "%%")
        choices = field.metadata.get("choices")
        if hints[field.name] is bool:
            parser.add_argument(
                *names, dest=field.name, action=argparse.BooleanOptionalAction, default=None, help=about
            )
            continue
        parser.add_argument(
            *names,
            dest=field.name,
            type=_flag_type(hints[field.name], flag),
            choices=choices,
            metavar=None if choices else field.name.upper(),
            default=None,
            help=about,
        )


def flag_values(args: argparse.Namespace, cls: type[Any]) -> dict[str, Any]:
    """The config fields the command line set (the rest stay None: env or default apply)."""
    return {f.name: getattr(args, f.name, None) for f in dataclasses.fields(cls)}
