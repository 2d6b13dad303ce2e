"""The terminal under `hubbub chat`: what the user types, and printing around the line they are
typing. On a terminal, keys are read one by one (so typing can be announced before Enter) by a
small line editor; from a pipe or a file, whole lines are read."""

from __future__ import annotations

import asyncio
import codecs
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO, TypeAlias

TYPING_REPEAT_S = 3.0  # while the user keeps typing, typing is announced again this often


@dataclass(frozen=True, slots=True)
class Line:
    text: str


@dataclass(frozen=True, slots=True)
class Typing:
    """The user started typing a message (or keeps typing one), or erased it (`active=False`)."""

    active: bool = True


Input: TypeAlias = Line | Typing


class LineEditor:
    """Keys in, (inputs, echo) out: printable keys, Backspace, Ctrl-U, Ctrl-W, Enter, Ctrl-D.
    Typing is announced for message lines only (not for /commands); the clock is passed in."""

    def __init__(self) -> None:
        self.buffer = ""
        self.eof = False
        self._escape = ""  # an escape sequence (arrow keys, ...) being skipped
        self._typing_at: float | None = None

    def feed(self, keys: str, now: float) -> tuple[list[Input], str]:
        inputs: list[Input] = []
        echo: list[str] = []
        for key in keys:
            if self._escape:
                self._escape += key
                if len(self._escape) > 1 and (key.isalpha() or key == "~"):
                    self._escape = ""
                continue
            if key == "\x1b":
                self._escape = key
            elif key in "\r\n":
                inputs.append(Line(self.buffer))
                self.buffer = ""
                self._typing_at = None
                echo.append("\r\n")
            elif key == "\x04":
                if not self.buffer:
                    self.eof = True
                    break
            elif key in "\x7f\x08":
                if self.buffer:
                    self.buffer = self.buffer[:-1]
                    echo.append("\b \b")
            elif key == "\x15":
                echo.append("\b \b" * len(self.buffer))
                self.buffer = ""
            elif key == "\x17":
                kept = self.buffer.rstrip()
                kept = kept[: kept.rfind(" ") + 1] if " " in kept else ""
                echo.append("\b \b" * (len(self.buffer) - len(kept)))
                self.buffer = kept
            elif key.isprintable():
                self.buffer += key
                echo.append(key)
        inputs.extend(self._typing(now))
        return inputs, "".join(echo)

    def _typing(self, now: float) -> Iterator[Typing]:
        if not self.buffer or self.buffer.startswith("/"):
            if self._typing_at is not None:
                self._typing_at = None
                yield Typing(active=False)
            return
        if self._typing_at is None or now - self._typing_at >= TYPING_REPEAT_S:
            self._typing_at = now
            yield Typing()


class PlainConsole:
    """Lines from a pipe, a file or a terminal we do not drive key by key."""

    def __init__(self, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
        self._stdin = stdin
        self._stdout = stdout
        self.colour = False
        self.prompt = ""

    def __enter__(self) -> PlainConsole:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def write(self, text: str) -> None:
        print(text, file=self._stdout, flush=True)

    async def inputs(self) -> AsyncIterator[Input]:
        """A daemon thread reads, so a blocked read never holds up exiting."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        def pump() -> None:
            for line in self._stdin:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=pump, name="stdin", daemon=True).start()
        while (line := await queue.get()) is not None:
            yield Line(line)


class TtyConsole:
    """A terminal driven key by key (cbreak mode: Ctrl-C still interrupts). Output is printed
    above the line being typed, which is redrawn after each printed line. Used as a context:
    keys are read from entering it, so nothing typed while connecting is lost or echoed twice."""

    def __init__(self, fd: int, stdout: TextIO, clock: Callable[[], float]) -> None:
        self._fd = fd
        self._stdout = stdout
        self._clock = clock
        self._editor = LineEditor()
        self._keys: asyncio.Queue[bytes] = asyncio.Queue()
        self._saved: list[Any] | None = None
        self.colour = not os.environ.get("NO_COLOR")  # https://no-color.org
        self.prompt = "> "

    def __enter__(self) -> TtyConsole:
        import termios
        import tty

        loop = asyncio.get_running_loop()

        def pump() -> None:
            while True:
                try:
                    data = os.read(self._fd, 1024)
                except OSError:
                    data = b""
                loop.call_soon_threadsafe(self._keys.put_nowait, data)
                if not data:
                    return

        self._saved = termios.tcgetattr(self._fd)
        tty.setcbreak(self._fd, termios.TCSANOW)  # keep what was typed already
        threading.Thread(target=pump, name="keys", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        import termios

        if self._saved is not None:
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            self._saved = None
        self._stdout.write("\r\x1b[K")
        self._stdout.flush()

    def write(self, text: str) -> None:
        body = text.replace("\n", "\r\n")
        self._stdout.write(f"\r\x1b[K{body}\r\n{self.prompt}{self._editor.buffer}")
        self._stdout.flush()

    async def inputs(self) -> AsyncIterator[Input]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while data := await self._keys.get():
            for key in decoder.decode(data):
                inputs, echo = self._editor.feed(key, self._clock())
                if any(isinstance(item, Line) for item in inputs):
                    echo += self.prompt  # a fresh line to type on
                self._stdout.write(echo)
                self._stdout.flush()
                for item in inputs:
                    yield item
                if self._editor.eof:
                    return


Console: TypeAlias = PlainConsole | TtyConsole


def open_console() -> Console:
    if sys.stdin.isatty() and sys.stdout.isatty():
        loop_clock = asyncio.get_running_loop().time
        return TtyConsole(sys.stdin.fileno(), sys.stdout, loop_clock)
    return PlainConsole()
