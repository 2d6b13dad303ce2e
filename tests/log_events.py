"""A log line as an event a test can await: for a step whose only trace is the line it logs
(a balancing step skipped, a refresh that failed), so the test waits for it instead of sleeping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager


class LogLine(logging.Handler):
    """`seen` is set once a record of the logger starts with `prefix` (at any level)."""

    def __init__(self, prefix: str) -> None:
        super().__init__(logging.DEBUG)
        self.prefix = prefix
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.prefix):
            self.seen.set()


@contextmanager
def logged(logger_name: str, prefix: str) -> Iterator[LogLine]:
    """Listen on `logger_name` (its level lowered to DEBUG meanwhile) for a line starting with `prefix`."""
    logger = logging.getLogger(logger_name)
    handler, level = LogLine(prefix), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
