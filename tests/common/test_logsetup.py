"""Log set-up: JSON or text lines, the run id on every line of a run, redaction, rotation by size."""

from __future__ import annotations

import io
import json
import logging
import secrets
from pathlib import Path

import pytest

from nexus.common import logsetup
from tests.common.test_redact import SECRETS


@pytest.fixture(autouse=True)
def restore_root_logger() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_log_lines_are_redacted_json_with_the_run_id() -> None:
    stream = io.StringIO()
    token = secrets.token_urlsafe(32)
    redactor = logsetup.configure(level="info", fmt="json", stream=stream)
    redactor.add(token)
    log = logging.getLogger("nexus.test")
    log.info("outside any run")
    with logsetup.run_context("run-42"):
        log.warning("upstream said %s with %s", SECRETS["oauth access token"], token)
        try:
            raise RuntimeError(f"boom {SECRETS['slack bot token']}")
        except RuntimeError:
            log.exception("failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["run_id"] for line in lines if "run_id" in line] == ["run-42", "run-42"]
    assert "run_id" not in lines[0]
    assert lines[1]["level"] == "warning" and "sk-ant-oat01-<redacted>" in lines[1]["msg"]
    assert "boom xoxb-<redacted>" in lines[2]["exc"]
    for secret in (SECRETS["oauth access token"], SECRETS["slack bot token"], token):
        assert secret not in stream.getvalue()


def test_text_lines_name_the_run() -> None:
    stream = io.StringIO()
    logsetup.configure(level="info", fmt="text", stream=stream)
    with logsetup.run_context("run-7"):
        logging.getLogger("nexus.x").info("hello")
    assert "INFO nexus.x [run run-7]: hello" in stream.getvalue()


def test_the_file_rotates_by_size_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "gateway.log"
    logsetup.configure(level="info", fmt="json", stream=io.StringIO(), file=path, max_bytes=2000, backups=2)
    log = logging.getLogger("nexus.rotate")
    for i in range(100):
        log.info("line %d %s", i, "x" * 50)
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["gateway.log", "gateway.log.1", "gateway.log.2"]
    assert all((path.parent / f).stat().st_size <= 2000 for f in files)
    assert path.stat().st_mode & 0o077 == 0
    assert json.loads(path.read_text().splitlines()[-1])["msg"].startswith("line 99 ")
