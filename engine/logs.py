"""Structured logs: one line per record, as text or as JSON objects.

A record logged while a call or a page's request is being handled carries that
journey's id (``CALL``, set by whoever handles it; asyncio tasks inherit it), as the
JSON field ``call``: one caller's story is ``jq 'select(.call == "...")'`` away.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

CALL: ContextVar[str] = ContextVar("call", default="")
_make_record = logging.getLogRecordFactory()


def _record_with_call(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Every record, made where it is logged, gets the call being handled there."""
    record = _make_record(*args, **kwargs)
    record.call = CALL.get()
    return record


logging.setLogRecordFactory(_record_with_call)


def masked(number: str, keep: int = 3) -> str:
    """A phone number fit for a log (or a page that needs no more): its last ``keep``
    digits. A caller's number is theirs, and a log is read by many."""
    return "*" * max(len(number) - keep, 0) + number[-keep:] if keep else "*" * len(number)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        call = getattr(record, "call", "")
        if call:
            entry["call"] = call
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(fmt: str = "text", level: int | str = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    calm_client_mistakes()


class _ClientMistake(logging.Filter):
    """aiohttp logs a request it cannot parse (a line too long, a bad header: the
    client's fault) as ERROR, with a traceback. Anyone who can reach the port could
    fill the log with them; they become one WARNING line each. The server's own
    failures (an exception in a handler) stay ERRORs with their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {error.message}"
            record.args = None
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def calm_client_mistakes() -> None:
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _ClientMistake) for f in server.filters):
        server.addFilter(_ClientMistake())
