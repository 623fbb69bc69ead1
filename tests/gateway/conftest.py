"""The gateway in-process: the real app on aiohttp (port 0) in front of real in-process
workers (grpc.aio on port 0), all on the test's event loop."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.inprocess import Gateway, running_gateway, running_worker
from tests.support import ABILITIES

FAULTY = str(ABILITIES / "faulty" / "wrapper.py")


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    """The gateway in front of one in-process worker of the `faulty` test ability."""
    async with running_worker(FAULTY) as worker, running_gateway([worker.address]) as running:
        yield running


@pytest.fixture
def start_gateway() -> Callable[..., Any]:
    """`async with start_gateway([address, ...], configure=None, **GatewaySettings fields)`."""
    return running_gateway
