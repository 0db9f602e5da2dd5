"""The one logging setup: human-readable lines, or JSON lines for log collectors."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Final

_STANDARD: Final = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "target": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    """Send the `xpl.*` loggers to stderr at `level`, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger("xpl")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # hypercorn and trio are quiet unless something is wrong
    logging.getLogger("hypercorn").setLevel(logging.WARNING)
    # py-libp2p logs every failed dial and closed stream as an error; the node's own network
    # code reports what matters (peers connecting and leaving, redials, bans). Its messages come
    # through at debug level only.
    libp2p = logging.getLogger("libp2p")
    libp2p.handlers[:] = [handler]
    libp2p.propagate = False
    libp2p.setLevel(logging.DEBUG if level == "debug" else logging.CRITICAL)
