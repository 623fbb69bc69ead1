"""`athena call --stream`: one input streamed as session frames over WebSocket (AIGES JSON) or
the public gRPC Session, each result printed as it arrives."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.client import Input, Output, grpc_accept, grpc_error_line, json_outputs, show_outputs
from loader.v1.wire import ABILITY_METADATA, DATA_KEYS, SESSION_METHOD, TYPE_NAMES

__all__ = ["FRAME_BYTES", "INTERVAL_MS", "Pacing", "split_streamed", "stream", "without_wav_header"]

FRAME_BYTES = 1280  # 40 ms of 16 kHz 16-bit mono PCM
INTERVAL_MS = 40.0  # real time for such frames


@dataclass(frozen=True)
class Pacing:
    frame_bytes: int = FRAME_BYTES
    interval_s: float = INTERVAL_MS / 1000  # 0: each frame as soon as the server takes the last


@dataclass(frozen=True)
class _Frame:
    status: int  # 0 first, 1 continue, 2 last (a single frame: 2)
    data: memoryview  # a slice of the streamed input, no copy
    first: bool


def split_streamed(inputs: Sequence[Input]) -> tuple[Input, list[Input]]:
    """The input to stream (the only one, else the only audio/image/video one) and the inputs
    that go whole in the first frame."""
    if len(inputs) == 1:
        return inputs[0], []
    media = [i for i in inputs if i.kind != "text"]
    if len(media) != 1:
        raise SystemExit("athena call --stream: one input is streamed: give one input, or one "
                         "--audio/--image/--video beside --text inputs (those go in the first "
                         "frame)")
    return media[0], [i for i in inputs if i is not media[0]]


def without_wav_header(item: Input) -> Input:
    """A WAV file's PCM samples alone, its format in the item's attributes: the header is not
    audio (sent as samples it shifts every frame and costs a recognizer words). Anything else,
    or a WAV whose data chunk cannot be found, is streamed as it is."""
    data = item.data
    if item.kind != "audio" or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return item
    fmt: dict[str, str] = {}
    offset = 12
    while offset + 8 <= len(data):
        chunk, size = data[offset:offset + 4], int.from_bytes(data[offset + 4:offset + 8], "little")
        body = offset + 8
        if chunk == b"fmt " and size >= 16:
            fmt = {"channels": str(int.from_bytes(data[body + 2:body + 4], "little")),
                   "sample_rate": str(int.from_bytes(data[body + 4:body + 8], "little")),
                   "bit_depth": str(int.from_bytes(data[body + 14:body + 16], "little"))}
        elif chunk == b"data":
            # copy: the samples out of the file's bytes (once, in the client, not per frame)
            samples = data[body:body + size]
            print(f"athena call: streaming the WAV's {len(samples)} bytes of samples, not its "
                  "header", file=sys.stderr)
            return replace(item, data=samples, attrs={**item.attrs, "encoding": "raw", **fmt})
        offset = body + size + (size & 1)  # chunks are padded to even sizes
    return item


def _frames(data: bytes, size: int) -> list[_Frame]:
    view = memoryview(data)  # frames are slices of the file's bytes: none is copied
    count = max(1, -(-len(data) // size))
    return [_Frame(2 if n == count - 1 else (0 if n == 0 else 1), view[n * size:(n + 1) * size],
                   n == 0) for n in range(count)]


class _Printer:
    """Each result's outputs as they arrive (the sid once, first), flushed at once."""

    def __init__(self, out_dir: Path | None) -> None:
        self._out_dir = out_dir
        self._count = 0

    def result(self, sid: str, outputs: Sequence[Output]) -> None:
        if self._count == 0:
            print(f"sid: {sid}")
        show_outputs(outputs, self._out_dir, index=self._count)
        self._count += 1
        sys.stdout.flush()


# what a transport's session does: send the frames; receive results until the end, returning
# the error line to print or None
_Send = Callable[[], Coroutine[Any, Any, None]]
_Receive = Callable[[], Coroutine[Any, Any, "str | None"]]


async def _run(send: _Send, receive: _Receive, timeout: float) -> str | None:
    """Send and receive at once; after the last frame, the end must come within `timeout`."""
    sender, receiver = asyncio.create_task(send()), asyncio.create_task(receive())
    try:
        done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if receiver not in done:
            sender.result()
            try:
                return await asyncio.wait_for(receiver, timeout)
            except TimeoutError:
                return f"error: the session did not end within {timeout:g} s of the last frame"
        return receiver.result()
    finally:
        for task in (sender, receiver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _json_item(item: Input, status: int, data: memoryview | bytes) -> dict[str, Any]:
    return {**item.attrs, "status": status, item.kind: base64.b64encode(data).decode("ascii")}


async def _over_websocket(url: str, streamed: Input, extra: Sequence[Input],
                          params: dict[str, str], accepts: dict[str, dict[str, str]],
                          pacing: Pacing, timeout: float, printer: _Printer) -> str | None:
    import aiohttp

    service_id = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    frames = _frames(streamed.data, pacing.frame_bytes)

    def body(frame: _Frame) -> str:
        payload = {streamed.name: _json_item(streamed, frame.status, frame.data)}
        if not frame.first:
            return json.dumps({"payload": payload})
        payload.update((i.name, _json_item(i, frame.status, i.data)) for i in extra)
        return json.dumps({"header": {"app_id": "athena-cli", "status": frame.status},
                           "parameter": {service_id: {**params, **accepts}},
                           "payload": payload})

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None,
                                                                   sock_connect=timeout)) as http:
        try:
            ws = await http.ws_connect(url, max_msg_size=0,
                                       timeout=aiohttp.ClientWSTimeout(ws_close=timeout))
        except aiohttp.WSServerHandshakeError as error:
            return f"error: {url} refused the WebSocket session (HTTP {error.status})"
        except (aiohttp.ClientError, OSError) as error:
            raise SystemExit(f"athena call: cannot reach {url}: {error}") from None

        async def send() -> None:
            with contextlib.suppress(ConnectionError):  # the server ended it: receive says why
                for frame in frames:
                    await ws.send_str(body(frame))
                    if frame.status != 2 and pacing.interval_s > 0:
                        await asyncio.sleep(pacing.interval_s)

        async def receive() -> str | None:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    return f"error: the server sent a {message.type.name} frame"
                reply = json.loads(message.data)
                header = reply.get("header", {})
                if header.get("code", 0) != 0:
                    return f"error {header['code']}: {header.get('message', '')}"
                printer.result(str(header.get("sid", "")), json_outputs(reply.get("payload")
                                                                        or {}))
            if ws.close_code != aiohttp.WSCloseCode.OK:
                return f"error: the session closed with WebSocket code {ws.close_code}"
            return None

        async with ws:
            return await _run(send, receive, timeout)


async def _over_grpc(target: str, ability: str | None, streamed: Input, extra: Sequence[Input],
                     params: dict[str, str], accepts: dict[str, dict[str, str]],
                     pacing: Pacing, timeout: float, printer: _Printer) -> str | None:
    import grpc

    from loader.v1 import loader_pb2

    def data(item: Input, status: int, chunk: memoryview | bytes) -> Any:
        # copy: a protobuf bytes field takes bytes, not a view (the message copies it anyway)
        return loader_pb2.Data(key=item.name, type=DATA_KEYS[item.kind],  # type: ignore[arg-type]
                               status=status, desc=item.attrs,  # type: ignore[arg-type]
                               data=bytes(chunk))

    def request(frame: _Frame) -> Any:
        inputs = [data(streamed, frame.status, frame.data)]
        if not frame.first:
            return loader_pb2.CallRequest(inputs=inputs)
        inputs += [data(i, frame.status, i.data) for i in extra]
        return loader_pb2.CallRequest(
            params=params, inputs=inputs,
            accepts=[grpc_accept(name, attrs) for name, attrs in accepts.items()])

    metadata = [(ABILITY_METADATA, ability)] if ability else None
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.stream_stream(
            SESSION_METHOD, request_serializer=loader_pb2.CallRequest.SerializeToString,
            response_deserializer=loader_pb2.CallResponse.FromString)(metadata=metadata)

        async def send() -> None:
            # the call ended early: receive says why
            with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
                for frame in _frames(streamed.data, pacing.frame_bytes):
                    await call.write(request(frame))
                    if frame.status != 2 and pacing.interval_s > 0:
                        await asyncio.sleep(pacing.interval_s)
                await call.done_writing()

        async def receive() -> str | None:
            try:
                async for reply in call:
                    printer.result(reply.sid, [
                        (o.key, TYPE_NAMES.get(o.type, "text"), o.data, dict(o.desc))
                        for o in reply.outputs])
            except grpc.aio.AioRpcError as error:
                return grpc_error_line(error)
            return None

        try:
            return await _run(send, receive, timeout)
        finally:
            call.cancel()  # a no-op once the stream has ended


def stream(target: str, inputs: Sequence[Input], params: dict[str, str],
           accepts: dict[str, dict[str, str]], ability: str | None, out_dir: str | None,
           timeout: float, pacing: Pacing) -> int:
    """Stream one input as a session; print each result as it comes (0), or the error (1)."""
    if pacing.frame_bytes <= 0 or pacing.interval_s < 0:
        raise SystemExit("athena call: --frame-bytes must be positive, --interval-ms not "
                         "negative")
    streamed, extra = split_streamed(inputs)
    streamed = without_wav_header(streamed)
    printer = _Printer(Path(out_dir) if out_dir else None)
    if target.startswith("grpc://"):
        session = _over_grpc(target.removeprefix("grpc://"), ability, streamed, extra, params,
                             accepts, pacing, timeout, printer)
    else:
        # an HTTP URL names the same route: a session opens a WebSocket on it
        url = "ws" + target.removeprefix("http") if target.startswith("http") else target
        session = _over_websocket(url, streamed, extra, params, accepts, pacing, timeout,
                                  printer)
    error = asyncio.run(session)
    if error is not None:
        print(error, file=sys.stderr)
        return 1
    return 0
