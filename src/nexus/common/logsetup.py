"""Logging for a Nexus process: text or JSON lines, secrets redacted, the current run id on each line.

One function configures the root logger so every library's records (httpx, uvicorn, the SDKs) pass
the same :class:`~nexus.common.redact.RedactingFilter`. The run id travels in a ``ContextVar``:
:func:`run_context` sets it around a run, and every task the run starts inherits it, so each line
the run causes — router, provider, channel send — carries ``run_id`` without being passed it.

Under ``nexus up`` the gateway writes to stderr, which the supervisor copies into
``logs/gateway.log`` (rotated there); run on its own it also writes that file itself, rotated by size.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import logging.handlers
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TextIO

from nexus.common.redact import RedactingFilter, Redactor

LogFormat = Literal["json", "text"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(run_suffix)s: %(message)s"

current_run: contextvars.ContextVar[str | None] = contextvars.ContextVar("nexus_run_id", default=None)


@contextlib.contextmanager
def run_context(run_id: str) -> Iterator[None]:
    """Every log line inside (and in tasks started inside) carries ``run_id``."""
    token = current_run.set(run_id)
    try:
        yield
    finally:
        current_run.reset(token)


class RunIdFilter(logging.Filter):
    """Stamps ``record.run_id`` (None outside a run) and the text form's `` [run …]`` suffix."""

    def filter(self, record: logging.LogRecord) -> bool:
        run_id = getattr(record, "run_id", None) or current_run.get()
        record.run_id = run_id
        record.run_suffix = f" [run {run_id}]" if run_id else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, ``run_id`` when in a run,
    ``exc`` with the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": round(record.created, 3),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        run_id = getattr(record, "run_id", None)
        if run_id:
            body["run_id"] = run_id
        if record.exc_text or record.exc_info:
            body["exc"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(body, ensure_ascii=False)


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Size-rotated, and every file it opens (the first and each one after a rollover) is 0600: a log
    may hold what a user wrote to their assistant."""

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


def formatter_for(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def prepare(handler: logging.Handler, fmt: LogFormat, redactor: Redactor) -> logging.Handler:
    """Run-id stamp, then redaction, then the format: the same three on every handler."""
    handler.addFilter(RunIdFilter())
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(formatter_for(fmt))
    return handler


def configure(
    *,
    level: str = "info",
    fmt: LogFormat = "text",
    redactor: Redactor | None = None,
    stream: TextIO | None = None,
    file: Path | None = None,
    max_bytes: int = 10 * 1024 * 1024,
    backups: int = 5,
) -> Redactor:
    """Replace the root logger's handlers; returns the redactor so the caller can register secrets."""
    redactor = redactor or Redactor()
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    root.addHandler(prepare(logging.StreamHandler(stream or sys.stderr), fmt, redactor))
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        rotating = PrivateRotatingFileHandler(file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        root.addHandler(prepare(rotating, fmt, redactor))
    return redactor
