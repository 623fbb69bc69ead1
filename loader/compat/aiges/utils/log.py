"""The SDK's aiges.utils.log: its logger names and signatures, logging through the worker's.

The SDK's module set the ROOT logger to DEBUG and gave it a second stream handler on import
(under a worker every line then printed twice, and every library's DEBUG lines appeared), and
its getFileLogger() wrote /log/app/<name>.log, dying at start-up where that folder could not be
made. Here nothing touches the root logger and no handler is added anywhere:

- `log` (and what getLogger() returns) is the logger "aiges"; getFileLogger(name="wrapper")
  returns "aiges.wrapper" ("aiges.<name>" for another name).
- Their records propagate to the worker's handlers (loader.process.setup_logging: stderr, the
  worker's format) and are filtered by the worker's level (ATHENA_LOG_LEVEL), as every other
  line of the worker is. getFileLogger therefore writes no file and needs no folder: one log
  stream per worker, collected with the rest.
- `fmt` and `level` are accepted, for the SDK's signatures, and not applied: the SDK passed
  level=DEBUG by default, so honouring it would bring back the DEBUG flood it caused.
"""
from __future__ import annotations

import logging
from typing import Final

__all__ = ["fmt", "getFileLogger", "getLogger", "level", "log"]

ROOT_NAME: Final = "aiges"

# the SDK's defaults, kept so `getLogger(fmt=fmt, level=level)` and imports of them still work
fmt: Final = "%(asctime)s - %(name)s:%(funcName)s:%(lineno)s - %(levelname)s:  %(message)s"
level: Final = logging.DEBUG

log: logging.Logger = logging.getLogger(ROOT_NAME)


def getLogger(fmt: str = fmt, level: int = level, name: str = "root") -> logging.Logger:
    """The SDK's getLogger: its shared logger (here "aiges"); another name gets "aiges.<name>"."""
    return _under_aiges(name)


def getFileLogger(fmt: str = fmt, level: int = level, name: str = "wrapper") -> logging.Logger:
    """The SDK's getFileLogger: "aiges.<name>", logging through the worker (no file, no folder)."""
    return _under_aiges(name)


def _under_aiges(name: str) -> logging.Logger:
    # the SDK's "root" meant its shared logger, which here is "aiges", never the real root
    if name in ("", "root", ROOT_NAME):
        return log
    return logging.getLogger(f"{ROOT_NAME}.{name}")
