"""Log set-up for every hubbub process: text lines for people, or one JSON object per line
(`--log-format json`) for log stores, with a connection's session, user and device as fields."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

LOG_FORMATS = ("text", "json")
CONNECTION_FIELDS = ("session", "user", "device", "peer")
"""What a log line about a client connection carries (`extra=`), as JSON fields."""


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, process, logger, message, the connection's
    fields when the line is about one, and the traceback of an exception."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "process": self._process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONNECTION_FIELDS:
            value = record.__dict__.get(key)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str, log_format: str, process: str) -> None:
    """Log to stderr at `level`; `process` names the services of this process."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(process))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s [{process}] %(name)s: %(message)s")
        )
    logging.basicConfig(level=level, handlers=[handler], force=True)
