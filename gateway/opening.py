"""A worker's Session stream until its first result: re-opened on another worker when the
worker refuses the session at its licence.

A worker takes a session's licence slot when the opening frame arrives and, with none free,
ends the stream with RESOURCE_EXHAUSTED and 10110 before any result: the session never began
there, so the frames written so far are replayed on another worker (the upstreams' choice) and
the transport driving the stream never knows. After the first result, `settle_s` after the
opening frame, or past `limit_bytes` of frames, nothing is kept and a failure is the
transport's to report.

Until the worker has answered (a result, or the stream's end) a frame after the opening one
waits up to `settle_s`: a write racing the worker's refusal fails, and grpc.aio then records
INTERNAL "Internal error from Core" as the stream's status in place of the worker's own, so the
refusal could not be told from any other failure. A refusal comes within a round trip; an
accepted session's second frame waits `settle_s` once at most.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from loader.v1.codes import Code
from loader.v1.status import aiges_code_from

__all__ = ["ReopeningSession"]

_ENDED = (grpc.aio.AioRpcError, asyncio.InvalidStateError)  # what a finished stream raises


async def _as_rpc_error(call: grpc.aio.StreamStreamCall, failure: Exception) -> Exception:
    """A write to a stream that has ended, as the status the worker ended it with (what a
    write racing the end would have raised), not grpc.aio's InvalidStateError."""
    if not isinstance(failure, asyncio.InvalidStateError) or not call.done():
        return failure
    return grpc.aio.AioRpcError(await call.code(), await call.initial_metadata(),
                                await call.trailing_metadata(), await call.details())


async def _write(call: grpc.aio.StreamStreamCall, request: bytes) -> None:
    """`call.write(request)`, but a write that fails because the worker has just ended the
    stream raises the worker's own status. grpc.aio's write records its INTERNAL "Internal
    error from Core" as the stream's status when the send fails before the worker's status has
    been read, and the worker's status is then lost (its code, AIGES code and message). Here
    the send goes to the same cygrpc call grpc.aio's write uses (grpc 1.85's private
    attributes, checked for; without them the plain write), and a failed send waits for the
    status the stream really ended with."""
    cython_call = getattr(call, "_cython_call", None)
    metadata_sent = getattr(call, "_metadata_sent", None)
    if cython_call is None or metadata_sent is None or getattr(call, "_done_writing_flag", True):
        await call.write(request)  # also raises the half-closed / other-API-style errors
        return
    if call.done():
        raise asyncio.InvalidStateError("the stream has ended")
    await metadata_sent.wait()
    try:
        await cython_call.send_serialized_message(request)
    except grpc.aio.UsageError:
        raise
    except asyncio.CancelledError:
        call.cancel()  # as grpc.aio's write does: a cancelled write ends the stream
        raise
    except Exception:  # cygrpc.InternalError: the send failed; the status says why
        raise grpc.aio.AioRpcError(await call.code(), await call.initial_metadata(),
                                   await call.trailing_metadata(),
                                   await call.details()) from None


class ReopeningSession(grpc.aio.StreamStreamCall):  # type: ignore[misc]
    def __init__(self, call: grpc.aio.StreamStreamCall,
                 reopen: Callable[[], Awaitable[grpc.aio.StreamStreamCall | None]],
                 limit_bytes: int, settle_s: float = 0.05) -> None:
        self._call = call
        self._reopen = reopen  # a stream on another worker, or None when none is left
        self._frames: list[bytes] | None = []  # None: no re-opening any more
        self._kept = 0
        self._limit = limit_bytes
        self._half_closed = False
        self._cancelled = False
        self._lock = asyncio.Lock()  # a write and a re-open never interleave
        self._settle_s = settle_s
        self._answered = asyncio.Event()
        self._answer_by = 0.0
        self._watch(call)

    def _watch(self, call: grpc.aio.StreamStreamCall) -> None:
        """`_answered` is set once `call` yields a result or ends."""
        answered = self._answered = asyncio.Event()
        self._answer_by = asyncio.get_running_loop().time() + self._settle_s
        call.add_done_callback(lambda _: answered.set())

    async def _settle(self) -> None:
        """Before a frame after the opening one, until the worker has answered (or settle_s)."""
        if (self._frames and not self._answered.is_set()
                and asyncio.get_running_loop().time() < self._answer_by):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(self._answer_by):
                    await self._answered.wait()

    async def write(self, request: Any) -> None:
        await self._settle()
        async with self._lock:
            call = self._call
            self._keep(request)
            try:
                await _write(call, request)
                return
            except _ENDED as error:
                failure = error
        if not await self._recover(call):
            raise await _as_rpc_error(call, failure)
        # re-opened: the frame was kept before the replay, so the new worker has it

    async def done_writing(self) -> None:
        async with self._lock:
            self._half_closed = True
            call = self._call
            try:
                await call.done_writing()
                return
            except _ENDED as error:
                failure = error
        if not await self._recover(call):
            raise await _as_rpc_error(call, failure)

    async def read(self) -> Any:
        while True:
            call = self._call
            try:
                reply = await call.read()
            except grpc.aio.AioRpcError:
                if await self._recover(call):
                    continue
                raise
            if reply is not grpc.aio.EOF:
                self._frames = None  # the session runs there now: nothing to replay
                self._answered.set()
            return reply

    async def _iterate(self) -> AsyncIterator[Any]:
        while (reply := await self.read()) is not grpc.aio.EOF:
            yield reply

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    def _keep(self, request: bytes) -> None:
        if self._frames is None:
            return
        self._kept += len(request)
        if self._kept > self._limit or (
                self._frames and asyncio.get_running_loop().time() >= self._answer_by):
            # too much to hold on to, or the worker had its time to refuse and did not (a
            # stream that sends frames and no result for minutes keeps none of them)
            self._frames = None
        else:
            self._frames.append(request)

    async def _recover(self, failed: grpc.aio.StreamStreamCall) -> bool:
        """After `failed` ended: whether the session now runs on another worker (re-opened by
        this call, or already by the other direction's)."""
        async with self._lock:
            if self._call is not failed:
                return True
            if self._frames is None or self._cancelled:
                return False
            refused = (await failed.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and
                       aiges_code_from(await failed.trailing_metadata())
                       == Code.NO_FREE_INSTANCE)
            if not refused:
                return False
            call = await self._reopen()
            if call is None:
                return False  # every worker refused: the client hears the last one's 10110
            self._call = call
            self._watch(call)
            try:
                for i, frame in enumerate(self._frames):
                    if i:
                        await self._settle()  # refused there too, its status stays its own
                    await call.write(frame)
                if self._half_closed:
                    await call.done_writing()
            except _ENDED:
                pass  # refused there too: its read says so, and the next worker is tried
            return True

    def cancel(self) -> bool:
        self._cancelled = True
        return bool(self._call.cancel())

    def cancelled(self) -> bool:
        return bool(self._call.cancelled())

    def done(self) -> bool:
        return bool(self._call.done())

    def time_remaining(self) -> float | None:
        remaining: float | None = self._call.time_remaining()
        return remaining

    def add_done_callback(self, callback: Any) -> None:
        self._call.add_done_callback(callback)

    async def initial_metadata(self) -> Any:
        return await self._call.initial_metadata()

    async def trailing_metadata(self) -> Any:
        return await self._call.trailing_metadata()

    async def code(self) -> grpc.StatusCode:
        code: grpc.StatusCode = await self._call.code()
        return code

    async def details(self) -> str:
        details: str = await self._call.details()
        return details

    async def wait_for_connection(self) -> None:
        await self._call.wait_for_connection()
