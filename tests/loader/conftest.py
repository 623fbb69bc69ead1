"""In-process loader workers: the real servicer behind a real grpc.aio server on port 0."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.inprocess import Worker, running_worker, text_request

__all__ = ["Worker", "running_worker", "text_request"]


@pytest.fixture
def worker() -> Callable[..., Any]:
    """`async with worker(wrapper_path, **LoaderSettings fields) as w:` one serving worker."""
    return running_worker
