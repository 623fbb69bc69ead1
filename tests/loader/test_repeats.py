"""Repeated wrapper errors (loader/repeats.py): one traceback per kind per window, then a count,
alone and in a real worker whose wrapper raises on every call."""
from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Iterator

import grpc
import pytest

import loader.repeats
from loader.repeats import Repeats
from tests.inprocess import running_worker, text_request
from tests.support import ABILITIES

FAULTY = str(ABILITIES / "faulty" / "wrapper.py")
log = logging.getLogger("tests.repeats")


def _raise(error: Exception) -> None:
    raise error


def _raised_here(repeats: Repeats, error: Exception, method: str = "wrapperOnceExec") -> None:
    try:
        _raise(error)
    except Exception as e:
        repeats.raised(log, method, e)


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info]


def _summaries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "more times" in r.getMessage()]


def test_repeats_of_one_kind_log_one_traceback_then_one_count_when_the_window_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    repeats = Repeats(window_s=0.3)
    for n in range(1_235):
        _raised_here(repeats, ValueError(f"bad input {n}"))
    assert _tracebacks(caplog) == ["wrapperOnceExec raised"]
    assert _summaries(caplog) == []  # the window is still open
    time.sleep(0.6)
    [summary] = _summaries(caplog)
    assert summary.startswith("wrapperOnceExec raised ValueError 1,234 more times in the last ")
    assert summary.endswith(" s: bad input 1234")  # the last one's message
    _raised_here(repeats, ValueError("again"))  # a new window: in full again
    assert len(_tracebacks(caplog)) == 2


def test_another_method_type_or_place_is_another_kind_logged_in_full(
    caplog: pytest.LogCaptureFixture,
) -> None:
    repeats = Repeats(window_s=60)
    _raised_here(repeats, ValueError("a"))
    _raised_here(repeats, ValueError("a"), method="wrapperWrite")
    _raised_here(repeats, KeyError("a"))
    try:
        raise ValueError("raised somewhere else")
    except ValueError as e:
        repeats.raised(log, "wrapperOnceExec", e)
    _raised_here(repeats, ValueError("a"))  # a repeat of the first
    assert len(_tracebacks(caplog)) == 4
    repeats.flush()
    assert _summaries(caplog) == ["wrapperOnceExec raised ValueError 1 more times in the last "
                                  f"{_summaries(caplog)[0].split('last ')[1]}"]


def test_a_zero_window_logs_every_traceback(caplog: pytest.LogCaptureFixture) -> None:
    repeats = Repeats(window_s=0)
    for _ in range(3):
        _raised_here(repeats, ValueError("x"))
    assert len(_tracebacks(caplog)) == 3


@pytest.fixture
def loader_log() -> Iterator[io.StringIO]:
    """What the `loader` loggers write, formatted as a worker's log lines are."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("loader")
    logger.addHandler(handler)
    try:
        yield out
    finally:
        logger.removeHandler(handler)


async def _raising_calls(count: int) -> None:
    async with running_worker(FAULTY) as w:
        for _ in range(count):
            with pytest.raises(grpc.aio.AioRpcError):
                await w.call(text_request("x", mode="raise"))
        assert (await w.call(text_request("x"))).outputs[0].data == b"ok"  # still serving


async def test_a_worker_sent_500_raising_calls_logs_one_traceback_and_a_count(
    loader_log: io.StringIO, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loader.repeats, "repeats", Repeats(window_s=0))  # as it was: all in full
    await _raising_calls(500)
    unlimited = len(loader_log.getvalue().encode())
    loader_log.seek(0)
    loader_log.truncate()

    repeats = Repeats()
    monkeypatch.setattr(loader.repeats, "repeats", repeats)
    await _raising_calls(500)
    await asyncio.to_thread(repeats.flush)  # the window (60 s) closes early
    text = loader_log.getvalue()
    limited = len(text.encode())
    print(f"500 raising calls: {unlimited:,} log bytes in full, {limited:,} rate-limited")
    assert text.count("Traceback (most recent call last)") == 1
    assert text.count("KeyError: 'secret internal detail'") == 1
    assert "wrapperOnceExec raised KeyError 499 more times in the last " in text
    assert limited * 50 < unlimited
