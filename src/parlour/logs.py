"""Structured logs that never carry secrets or content, and only truncated client addresses."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from parlour.core.netaddr import truncate_ip

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# Extras that repeat the message in another form: uvicorn's copy with terminal colour codes.
_DROPPED = {"color_message"}
_SECRET_KEYS = re.compile(r"pass|secret|token|cookie|authorization|csrf|body|content", re.I)
_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])")
# Candidates only: whatever parses as an IPv6 address is truncated, anything else is left alone.
_IPV6 = re.compile(
    r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}(?![\w:])"
)
_QUERY_SECRET = re.compile(r"((?:token|invitation|secret|key)=)[^&\s]+", re.I)
# Libraries that log SQL parameters or raw payloads at DEBUG/INFO: message bodies, digests.
_QUIET = ("aiosqlite", "sqlalchemy", "asyncpg", "multipart", "python_multipart")


def _address(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if ip.is_loopback or ip.is_unspecified:
        return text  # names no one: the operator's own bind address, say
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        return "::ffff:" + truncate_ip(str(mapped))
    return truncate_ip(text)


def scrub_text(text: str) -> str:
    """Last line of defence for free text: hide link secrets, truncate client addresses.

    IPv4 addresses keep their /24 and IPv6 addresses their /48, as in the access log; loopback
    and unspecified addresses (127.0.0.1, 0.0.0.0, ::1, ::) are left as they are.
    """
    text = _QUERY_SECRET.sub(r"\1[hidden]", text)
    text = _IPV6.sub(_address, text)
    return _IPV4.sub(_address, text)


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
            if key not in _STANDARD and key not in _DROPPED and not key.startswith("_"):
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
    floor = max(logging.getLevelName(level), logging.WARNING)
    for name in _QUIET:
        logging.getLogger(name).setLevel(floor)
    # Our own access log replaces uvicorn's, which would print full addresses and query strings.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("uvicorn.access").propagate = False
