"""Structured logs that never carry secrets or content, and only truncated client addresses."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from parlour.core.netaddr import truncate_ip

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_SECRET_KEYS = re.compile(r"pass|secret|token|cookie|authorization|csrf|body|content", re.I)
_IPV4 = re.compile(r"\b(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}\b")
_QUERY_SECRET = re.compile(r"((?:token|invitation|secret|key)=)[^&\s]+", re.I)


def scrub_text(text: str) -> str:
    """Last line of defence for free text: hide link secrets and the host part of IPv4s."""
    text = _QUERY_SECRET.sub(r"\1[hidden]", text)
    return _IPV4.sub(r"\1.0", text)


def _clean(key: str, value: Any) -> Any:
    if _SECRET_KEYS.search(key):
        return "[hidden]"
    if key in ("client", "ip"):
        return truncate_ip(str(value))
    if isinstance(value, str):
        return scrub_text(value)
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub_text(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = _clean(key, value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


class PlainFormatter(JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = json.loads(super().format(record))
        extras = " ".join(
            f"{k}={v}" for k, v in entry.items() if k not in ("time", "level", "logger", "message")
        )
        head = f"{entry['time']} {entry['level']:<7} {entry['logger']}: {entry['message']}"
        return f"{head} {extras}".rstrip()


def configure_logging(level: str, as_json: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else PlainFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Our own access log replaces uvicorn's, which would print full addresses and query strings.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("uvicorn.access").propagate = False
