"""Repeated wrapper errors in the log: the first traceback of a kind in full, then a count.

A wrapper that raises on every call would otherwise log a full traceback (~1.3 KB) per call.
A kind is (wrapper method, exception type, where it was raised: the innermost frame). The
first of a kind is logged in full and opens a window of WINDOW_S; repeats within the window
are only counted, and when it closes one line says how many there were and the last message:

    wrapperOnceExec raised ValueError 1,234 more times in the last 60 s: bad input

The next one after that is logged in full again and opens a new window. Called from the loop
and from wrapper threads alike.
"""
from __future__ import annotations

import atexit
import logging
import threading
from dataclasses import dataclass
from time import monotonic

__all__ = ["WINDOW_S", "Repeats", "log_raised", "repeats"]

WINDOW_S = 60.0

_Kind = tuple[str, str, str, int]  # method, exception type, file, line


@dataclass
class _Window:
    logger: logging.Logger
    method: str
    error_type: str
    opened: float
    count: int = 0  # repeats after the one logged in full
    message: str = ""  # the last repeat's


class Repeats:
    """Open windows by kind. `window_s` 0 logs every traceback in full."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._windows: dict[_Kind, _Window] = {}
        self._lock = threading.Lock()

    def raised(self, logger: logging.Logger, method: str, error: BaseException,
               what: str | None = None) -> None:
        """Log that `method` raised `error`: in full (as `what`, default "<method> raised")
        when it is the first of its kind in the window, else only counted."""
        kind = _kind(method, error)
        with self._lock:
            window = self._windows.get(kind) if self.window_s > 0 else None
            if window is not None:
                window.count += 1
                window.message = str(error)
                return
            if self.window_s > 0:
                self._windows[kind] = _Window(logger, method, type(error).__name__, monotonic())
                timer = threading.Timer(self.window_s, self._close, (kind,))
                timer.daemon = True  # an open window never holds the worker up at exit
                timer.start()
        logger.error("%s", what or f"{method} raised", exc_info=error)

    def flush(self) -> None:
        """Close every open window now (at exit: its count is not lost)."""
        with self._lock:
            kinds = list(self._windows)
        for kind in kinds:
            self._close(kind)

    def _close(self, kind: _Kind) -> None:
        with self._lock:
            window = self._windows.pop(kind, None)
        if window is None or window.count == 0:
            return
        window.logger.error(
            "%s raised %s %s more times in the last %.3g s: %s", window.method,
            window.error_type, f"{window.count:,}", monotonic() - window.opened, window.message)


def _kind(method: str, error: BaseException) -> _Kind:
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = (tb.tb_frame.f_code.co_filename, tb.tb_lineno) if tb is not None else ("", 0)
    return (method, type(error).__qualname__, *where)


repeats = Repeats()  # the worker's one: every place that logs a wrapper's exception uses it
atexit.register(repeats.flush)


def log_raised(logger: logging.Logger, method: str, error: BaseException,
               what: str | None = None) -> None:
    """`repeats.raised`: log a wrapper method's exception, rate-limited by kind."""
    repeats.raised(logger, method, error, what)
