"""Structured logging: JSON lines to a file, key=value on a terminal, correlation ids that
follow asyncio tasks (contextvars) and never leak between them."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from nzeza.ops.logging import bind, configure_logging, current_context, get_logger


@pytest.fixture(autouse=True)
def _reset_logging():
    yield
    logger = logging.getLogger("nzeza")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = True


def test_json_file_and_key_value_terminal(tmp_path) -> None:
    stream = io.StringIO()
    log_file = tmp_path / "logs" / "s.jsonl"
    configure_logging("INFO", json_file=log_file, stream=stream)
    log = get_logger("engine.session")
    with bind(session_id="s-1"), bind(order_id="o-9"):
        log.info("order sent", extra={"qty": "0.5"})
    log.debug("not at INFO")
    [line] = log_file.read_text().splitlines()
    doc = json.loads(line)
    assert doc["msg"] == "order sent" and doc["level"] == "info"
    assert doc["logger"] == "nzeza.engine.session"
    assert (doc["session_id"], doc["order_id"], doc["qty"]) == ("s-1", "o-9", "0.5")
    assert doc["ts"].endswith("Z")
    [term] = stream.getvalue().splitlines()
    assert "info    nzeza.engine.session: order sent" in term
    assert "session_id=s-1" in term and "order_id=o-9" in term and "qty=0.5" in term


def test_console_can_be_json_lines() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream, console_json=True)
    get_logger("x").warning("careful")
    assert json.loads(stream.getvalue())["msg"] == "careful"


def test_correlation_ids_follow_each_task_and_do_not_leak() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream, console_json=True)
    log = get_logger("engine")

    async def worker(session: str) -> None:
        with bind(session_id=session):
            for i in range(3):
                with bind(order_id=f"{session}-{i}"):
                    await asyncio.sleep(0)  # interleave the tasks at every step
                    log.info("step")

    async def main() -> None:
        await asyncio.gather(worker("a"), worker("b"))

    asyncio.run(main())
    docs = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(docs) == 6
    assert {d["session_id"] for d in docs} == {"a", "b"}
    assert all(d["order_id"].startswith(d["session_id"] + "-") for d in docs)
    assert current_context() == {}  # nothing left bound outside
