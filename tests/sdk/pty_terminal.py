"""`hubbub chat` as a user runs it: a child process in a pseudo-terminal (pexpect), against a
node running in the test's event loop. Each wait is for output (expect in a thread, so the node
keeps serving meanwhile), never a sleep."""

from __future__ import annotations

import asyncio
import fcntl
import io
import os
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pexpect
import pexpect.fdpexpect

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 30.0


# The child makes the pty its controlling terminal (so getpass can open /dev/tty), then runs
# the chat. Spawned by subprocess (vfork + exec): a plain fork of this process, whose gRPC
# threads are running the node, trips gRPC's fork handlers in the child.
_LAUNCH = (
    "import fcntl, os, sys, termios; os.setsid(); fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'deploy.cli', 'chat', *sys.argv[1:]])"
)
# As a shell without job control starts a background job (a CI runner, `cmd &` in a script):
# SIGINT ignored, which the exec'd chat inherits.
_IGNORING_SIGINT = "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "


class Terminal:
    def __init__(self, *args: str, env: dict[str, str] | None = None, sigint_ignored: bool = False) -> None:
        child_env = {k: v for k, v in os.environ.items() if k != "HUBBUB_PASSWORD"}
        child_env.update(env or {})
        master, slave = os.openpty()
        self.cooked = termios.tcgetattr(slave)  # the mode the chat must leave it in
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 250, 0, 0))
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", (_IGNORING_SIGINT if sigint_ignored else "") + _LAUNCH, *args],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=str(REPO),
                env=child_env,
            )
        finally:
            os.close(slave)  # only the child holds it: its exit is our EOF
        self.child = pexpect.fdpexpect.fdspawn(master, encoding="utf-8", timeout=TIMEOUT_S)
        self.seen = ""  # everything printed so far, up to the last match
        self.transcript = io.StringIO()  # everything printed, for failure messages
        self.child.logfile_read = self.transcript

    @classmethod
    def chat(cls, url: str, user: str, *args: str) -> Terminal:
        return cls("--user", user, "--password", f"{user}-password", "--url", url, *args)

    async def _expect(self, texts: str | list[str]) -> int:
        try:
            return await asyncio.to_thread(self.child.expect_exact, texts)
        except (pexpect.EOF, pexpect.TIMEOUT) as exc:
            shown = self.transcript.getvalue()
            raise AssertionError(f"{type(exc).__name__} waiting for {texts!r}; it showed:\n{shown}") from None

    async def expect(self, text: str) -> str:
        """Wait until `text` is printed; the output since the previous match, up to and with it."""
        await self._expect(text)
        before = str(self.child.before) + str(self.child.after)
        self.seen += before
        return before

    async def expect_all(self, *texts: str) -> str:
        """Wait until each of `texts` is printed, in any order; the output meanwhile."""
        remaining = list(texts)
        seen = ""
        while remaining:
            index = await self._expect(remaining)
            seen += str(self.child.before) + str(self.child.after)
            remaining.pop(index)
        self.seen += seen
        return seen

    def type(self, keys: str) -> None:
        self.child.send(keys)

    def line(self, text: str) -> None:
        self.child.send(text + "\r")

    async def exit_status(self) -> int:
        """Wait for the process to exit (the event itself, reading what it prints meanwhile so
        it never blocks on a full terminal); its exit status. TIMEOUT_S only bounds a hang."""
        exited = asyncio.ensure_future(asyncio.to_thread(self.process.wait))
        drained = asyncio.ensure_future(self._expect_eof())
        done, _ = await asyncio.wait({exited}, timeout=TIMEOUT_S)
        if not done:
            drained.cancel()
            mode = "as it was" if self.mode() == self.cooked else "still the chat's (cbreak)"
            raise AssertionError(
                f"the terminal did not exit; its mode is {mode}:\n{self.transcript.getvalue()}"
            )
        await drained  # the rest of what it printed, up to the end
        return exited.result()

    def mode(self) -> list[object]:
        """The terminal's mode now (a pty's master reads the pair's settings)."""
        return list(termios.tcgetattr(self.child.child_fd))

    async def _expect_eof(self) -> None:
        try:
            await asyncio.to_thread(self.child.expect, pexpect.EOF)
        except pexpect.TIMEOUT:
            raise AssertionError(f"the terminal did not exit:\n{self.transcript.getvalue()}") from None
        self.seen += str(self.child.before)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.child.close()
