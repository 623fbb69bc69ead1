"""gRPC servicer: loader.v1 calls in, wrapper calls out."""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import uuid
from collections.abc import Callable
from time import perf_counter
from typing import Any

import aiges_embed
import grpc

from loader.codes import Code
from loader.errors import AigesError, CallTimeout, InvalidRequest, WrapperFailed, rpc_status_of
from loader.licence import Licence
from loader.metrics import LoaderMetrics
from loader.outputs import checked_outputs
from loader.placement import Placement
from loader.plugin import Plugin
from loader.settings import LoaderSettings
from loader.threads import WrapperThreads
from loader.v1 import loader_pb2

__all__ = ["SERVICE", "LoaderServicer"]

log = logging.getLogger(__name__)

SERVICE = "loader.v1.Loader"


class LoaderServicer:
    def __init__(
        self, plugin: Plugin, settings: LoaderSettings, metrics: LoaderMetrics,
        threads: WrapperThreads,
    ) -> None:
        self._plugin = plugin
        self._settings = settings
        self._metrics = metrics
        self._threads = threads
        self._licence = Licence(settings.licence)
        self._started: dict[asyncio.Future[Any], float] = {}  # wrapper calls running now
        self._inline_started: float | None = None  # a call running inline on the loop now
        self._placement = Placement(settings.inline_under_ms / 1000)
        metrics.licence.set(settings.licence)

    def longest_running_s(self) -> float:
        """How long the oldest wrapper call still running has been at it (0 when idle).
        Read from the watchdog thread: list() copies the values without releasing the GIL."""
        starts = list(self._started.values())
        if self._inline_started is not None:
            starts.append(self._inline_started)
        return perf_counter() - min(starts) if starts else 0.0

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                # raw bytes in and out: the native bridge parses and serialises (zero copy in)
                "Call": grpc.unary_unary_rpc_method_handler(
                    self.call, request_deserializer=None, response_serializer=None
                ),
                "Describe": grpc.unary_unary_rpc_method_handler(
                    self.describe,
                    request_deserializer=loader_pb2.DescribeRequest.FromString,
                    response_serializer=loader_pb2.Ability.SerializeToString,
                ),
            },
        )

    def ability(self) -> loader_pb2.Ability:
        plugin = self._plugin
        schema = plugin.schema()
        return loader_pb2.Ability(
            service_id=plugin.service_id,
            version=plugin.version,
            route=self._settings.route or f"/{plugin.version}/private/{plugin.service_id}",
            schema_json=json.dumps(schema) if schema else "",
            licence=self._settings.licence,
            operations=plugin.operations(),
            wrapper_version=plugin.wrapper_version(),
        )

    async def describe(
        self, request: loader_pb2.DescribeRequest, context: grpc.aio.ServicerContext
    ) -> loader_pb2.Ability:
        self._metrics.grpc_requests.labels("Describe", "OK").inc()
        return self.ability()

    async def call(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        started = perf_counter()
        grpc_code = "OK"
        self._metrics.payload_bytes.labels("in").inc(len(raw))
        try:
            wire = await self._call(raw, context)
            self._metrics.payload_bytes.labels("out").inc(len(wire))
            return wire
        except AigesError as error:
            status_code, status = rpc_status_of(error)
            grpc_code = status_code.name
            log.info("Call failed: %s (code %d)", error.message, error.code)
            await context.abort_with_status(status)
            raise  # unreachable: abort_with_status raises
        except asyncio.CancelledError:
            grpc_code = "CANCELLED"
            raise
        finally:
            self._metrics.grpc_requests.labels("Call", grpc_code).inc()
            self._metrics.grpc_duration.labels("Call").observe(perf_counter() - started)

    async def _call(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if self._plugin.once is None:
            raise InvalidRequest(
                f"ability {self._plugin.service_id!r} serves sessions only: open a WebSocket",
                Code.REQUEST_CONVERSION,
            )
        try:
            request = aiges_embed.parse_call(raw, copy_text=self._settings.text_as_bytes)
        except aiges_embed.DecodeError as e:
            raise InvalidRequest(f"request is not a valid loader.v1.CallRequest: {e}") from None
        sid = request.sid or uuid.uuid4().hex
        params = dict(request.params)
        params.setdefault("sid", sid)
        code = 0
        try:
            response = await self._run_once(params, request, context.time_remaining())
            outputs = checked_outputs(
                response, request.accepts, self._plugin.error_text, "wrapperOnceExec"
            )
            return aiges_embed.serialize_response(sid, outputs, aiges_embed.DataOnce)
        except AigesError as error:
            code = error.code
            raise
        except (TypeError, ValueError) as e:  # serialize_response: data of a type it cannot send
            code = Code.INVALID_OUTPUT
            raise AigesError(f"wrapper output cannot be sent: {e}", code) from None
        finally:
            self._metrics.wrapper_calls.labels("once", str(code)).inc()

    async def _run_once(self, params: dict[str, str], request: Any, timeout: float | None) -> Any:
        once = self._plugin.once
        assert once is not None
        self._licence.take()
        in_flight = self._metrics.wrapper_in_flight.labels("once")
        in_flight.inc()
        started = perf_counter()
        if self._plugin.once_is_async:
            future: asyncio.Future[Any] = asyncio.ensure_future(
                once(params, request.data, request.usr_tag, request.pers_id)
            )
        else:
            call = functools.partial(self._timed, once, params, request.data, request.usr_tag,
                                     request.pers_id)
            future = self._run_inline(call, started) if self._placement.inline() \
                else self._threads.run(call)

        def finished(_: asyncio.Future[Any]) -> None:
            # the instance is busy until the wrapper really returns, even after a timeout
            self._licence.give_back()
            self._started.pop(future, None)
            in_flight.dec()
            self._metrics.wrapper_duration.labels("once").observe(perf_counter() - started)

        if future.done():  # ran inline: give the instance back now, not on a later loop turn
            finished(future)
        else:
            self._started[future] = started
            future.add_done_callback(finished)
        try:
            return await _outcome(future, timeout)
        except TimeoutError:
            if self._plugin.once_is_async:
                future.cancel()
            raise CallTimeout(
                f"wrapperOnceExec did not answer within the {timeout:.3g} s deadline"
            ) from None
        except asyncio.CancelledError:
            if self._plugin.once_is_async:
                future.cancel()
            raise
        except Exception as e:
            log.exception("wrapperOnceExec raised")
            raise WrapperFailed(
                f"wrapperOnceExec raised {type(e).__name__}: {e}", Code.WRAPPER_EXEC
            ) from None

    def _timed(self, once: Callable[..., Any], *args: Any) -> Any:
        """The call itself, timed where it runs: waiting for a thread under load is not the
        wrapper's time, and counting it would keep a busy worker off the inline path."""
        started = perf_counter()
        try:
            return once(*args)
        finally:
            self._placement.record(perf_counter() - started)

    def _run_inline(self, call: Callable[[], Any], started: float) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inline_started = started
        try:
            future.set_result(call())
        except Exception as error:  # reported like a threaded call's failure
            future.set_exception(error)
        finally:
            self._inline_started = None
        return future


async def _outcome(future: asyncio.Future[Any], timeout: float | None) -> Any:
    """The wrapper's result, waiting at most `timeout`; giving up (or being cancelled) leaves
    the call itself running, as asyncio.wait_for(shield(...)) would, at a third of its cost."""
    if future.done():  # ran inline
        return future.result()
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def wake(_: object) -> None:
        if not waiter.done():
            waiter.set_result(None)

    future.add_done_callback(wake)
    timer = loop.call_later(timeout, wake, None) if timeout is not None else None
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()
        future.remove_done_callback(wake)
    if not future.done():
        raise TimeoutError
    return future.result()
