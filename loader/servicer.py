"""gRPC servicer: loader.v1 calls in, wrapper calls out (parse -> run -> check -> serialize)."""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from time import perf_counter
from typing import Any

import aiges_embed
import grpc

from loader.engine import OnceEngine
from loader.errors import AigesError, InvalidOutput, InvalidRequest
from loader.metrics import LoaderMetrics
from loader.outputs import checked_outputs
from loader.plugin import Plugin
from loader.session import Session
from loader.sessions import SessionEngine
from loader.settings import MIB, LoaderSettings
from loader.v1 import loader_pb2
from loader.v1.codes import Code
from loader.v1.wire import SERVICE

__all__ = ["LoaderServicer"]

log = logging.getLogger(__name__)

_CONTINUE = 1  # a data status that needs an earlier frame


def _size(data: Any) -> int:
    if isinstance(data, str):
        return len(data.encode())
    try:
        return memoryview(data).nbytes
    except TypeError:
        return 0


class LoaderServicer:
    def __init__(self, plugin: Plugin, settings: LoaderSettings, metrics: LoaderMetrics,
                 engine: OnceEngine | None, sessions: SessionEngine | None = None) -> None:
        self._plugin = plugin
        self._sessions = sessions
        self._settings = settings
        self._metrics = metrics
        self._engine = engine
        self._calls = metrics.grpc_requests
        self._call_duration = metrics.grpc_duration.labels("Call")
        self._session_duration = metrics.grpc_duration.labels("Session")
        self._bytes_in = metrics.payload_bytes.labels("in")
        self._bytes_out = metrics.payload_bytes.labels("out")
        self.served = 0  # calls and sessions answered: [loader] max_calls counts these

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                # raw bytes in and out: the native bridge parses and serialises (zero copy in)
                "Call": grpc.unary_unary_rpc_method_handler(
                    self.call, request_deserializer=None, response_serializer=None
                ),
                "Session": grpc.stream_stream_rpc_method_handler(
                    self.session, request_deserializer=None, response_serializer=None
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
        return loader_pb2.Ability(
            service_id=plugin.service_id,
            version=plugin.version,
            route=self._settings.route or f"/{plugin.version}/private/{plugin.service_id}",
            schema_json=plugin.declared.to_json() if plugin.declared else "",
            licence=self._settings.licence,
            operations=plugin.operations(),
            wrapper_version=plugin.wrapper_version(),
            fingerprint=self._fingerprint(),
            wrapper=self._settings.wrapper,
        )

    def _fingerprint(self) -> str:
        """Same source and same [wrapper] config: the same ability, wherever it runs."""
        config = json.dumps(sorted(self._settings.wrapper_config.items()))
        both = f"{self._plugin.source_digest}\n{config}".encode()
        return hashlib.sha256(both).hexdigest()[:16]

    async def describe(
        self, request: loader_pb2.DescribeRequest, context: grpc.aio.ServicerContext
    ) -> loader_pb2.Ability:
        self._calls.labels("Describe", "OK").inc()
        return self.ability()

    async def call(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        started = perf_counter()
        grpc_code = "OK"
        self._bytes_in.inc(len(raw))
        try:
            wire = await self._call(raw, context)
            self._bytes_out.inc(len(wire))
            return wire
        except AigesError as error:
            grpc_code = error.grpc_status.name
            log.info("Call %s failed: %s (code %d)", error.sid or "?", error.message, error.code)
            await context.abort_with_status(error.rpc_status())
            raise  # unreachable: abort_with_status raises
        except asyncio.CancelledError:
            grpc_code = "CANCELLED"
            raise
        finally:
            self.served += 1
            self._calls.labels("Call", grpc_code).inc()
            self._call_duration.observe(perf_counter() - started)

    async def _call(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if self._engine is None:
            raise InvalidRequest(
                f"ability {self._plugin.service_id!r} serves sessions only: open a WebSocket")
        request, params, sid = self._parse(raw)
        if self._plugin.declared is not None:
            self._plugin.declared.check(params, request.data)  # before the wrapper sees it
        code = 0
        try:
            response = await self._engine.run(params, request.data, request.usr_tag,
                                              request.pers_id, context.time_remaining())
            outputs = checked_outputs(
                response, request.accepts, self._plugin.error_text, "wrapperOnceExec"
            )
            return self._fitting(outputs, aiges_embed.serialize_response(
                sid, outputs, aiges_embed.DataOnce))
        except AigesError as error:
            code, error.sid = error.code, sid
            raise
        except (TypeError, ValueError) as e:  # serialize_response: data of a type it cannot send
            code = Code.INVALID_OUTPUT
            invalid = InvalidOutput(f"wrapper output cannot be sent: {e}")
            invalid.sid = sid
            raise invalid from None
        finally:
            self._metrics.wrapper_calls.labels("once", str(code)).inc()

    def _fitting(self, outputs: list[Any], wire: bytes) -> bytes:
        """`wire`, or InvalidOutput naming the largest output when the message is over this
        worker's limit (grpc would refuse it with its own text, naming neither)."""
        limit = self._settings.max_message_bytes
        if len(wire) <= limit:
            return wire
        sizes = {str(getattr(o, "key", "?")): _size(getattr(o, "data", b"")) for o in outputs}
        key = max(sizes, key=sizes.__getitem__)
        raise InvalidOutput(
            f"wrapper output {key!r} is {sizes[key]} bytes ({sizes[key] / MIB:.1f} MiB); the "
            f"whole response is {len(wire)} bytes, over this worker's message limit of "
            f"{self._settings.max_message_mb} MiB: raise [loader] max_message_mb (and "
            f"[gateway] max_message_mb) to send it")

    def _parse(self, raw: bytes) -> tuple[Any, dict[str, str], str]:
        request = self._decode(raw)
        # one sid names the call: the gateway's, else one the client put in params, else ours
        params = request.params  # built by parse_call for this call alone: no need to copy
        sid = params["sid"] = request.sid or params.get("sid") or uuid.uuid4().hex
        return request, params, sid

    def _decode(self, raw: bytes) -> Any:
        """The parsed request alone: a session's later frames need only its data."""
        try:
            return aiges_embed.parse_call(raw, copy_text=self._settings.text_as_bytes)
        except aiges_embed.DecodeError as e:
            raise InvalidRequest(f"request is not a valid loader.v1.CallRequest: {e}") from None

    async def session(self, requests: AsyncIterator[bytes],
                      context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        """A stream session: the first message opens it, every message's inputs are written,
        each result goes back as it comes; it ends after a final (status 2 or 3) output."""
        started = perf_counter()
        grpc_code = "OK"
        try:
            async for wire in self._session(requests):
                self._bytes_out.inc(len(wire))
                yield wire
        except AigesError as error:
            grpc_code = error.grpc_status.name
            log.info("Session %s failed: %s (code %d)", error.sid or "?", error.message,
                     error.code)
            await context.abort_with_status(error.rpc_status())
        except asyncio.CancelledError:
            grpc_code = "CANCELLED"
            raise
        finally:
            self.served += 1
            self._calls.labels("Session", grpc_code).inc()
            self._session_duration.observe(perf_counter() - started)

    async def _session(self, requests: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        if self._sessions is None:
            raise InvalidRequest(f"ability {self._plugin.service_id!r} serves one-shot calls "
                                 "only: use Call")
        first = await anext(aiter(requests), None)
        if first is None:
            return  # the client half-closed before opening: nothing to do
        self._bytes_in.inc(len(first))
        request, params, sid = self._parse(first)
        if any(item.status == _CONTINUE for item in request.data.list):
            raise InvalidRequest("the first frame opens the session: its data has status 0 "
                                 "(first) or 2 (first and last), not 1 (continue)",
                                 Code.REQUEST_JSON)
        accepts, error_text = request.accepts, self._plugin.error_text
        try:
            session = await self._sessions.open(params, sid, request.usr_tag, request.pers_id)
        except AigesError as error:  # wrapperCreate failed, or the licence is full
            error.sid = sid
            raise
        feeder = asyncio.create_task(self._feed(session, request.data, requests))
        reason = "error"
        try:
            while (response := await session.next()) is not None:
                try:
                    outputs = checked_outputs(response, accepts, error_text, "wrapperRead")
                    wire = self._fitting(outputs, aiges_embed.serialize_response(sid, outputs))
                except (TypeError, ValueError) as e:
                    raise InvalidOutput(f"wrapper output cannot be sent: {e}") from None
                yield wire
            reason = "completed"
        except AigesError as error:
            reason = "timeout" if error.code == Code.SESSION_TIMEOUT else "error"
            error.sid = sid
            raise
        except (asyncio.CancelledError, GeneratorExit):
            reason = "shutdown" if self._sessions.stopping else "client_gone"
            raise
        finally:
            feeder.cancel()
            await session.close(reason)

    async def _feed(self, session: Session, first: Any, requests: AsyncIterator[bytes]) -> None:
        """Every frame the client sends, written in arrival order; failures end the session."""
        try:
            if first.list:
                await session.write(first)
            bytes_in, decode, write = self._bytes_in, self._decode, session.write
            async for raw in requests:
                bytes_in.inc(len(raw))
                data = decode(raw).data
                if data.list:
                    await write(data)
            session.half_closed()
        except AigesError as error:
            session.fail(error)
