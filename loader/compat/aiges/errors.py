"""The SDK's aiges.errors: the codes its own server used, kept for wrappers that return them."""
from __future__ import annotations

from typing import Final

__all__ = ["INIT_ERROR", "OK", "USER_EXEC_ERROR", "USER_INIT_ERROR"]

OK: Final = 0
INIT_ERROR: Final = 30001
USER_INIT_ERROR: Final = 30002
USER_EXEC_ERROR: Final = 30003
