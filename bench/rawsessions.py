"""The raw stack for sessions: the least a WebSocket-to-gRPC-stream gateway can cost.

Two bare processes, the obvious few lines each (the session counterpart of bench/rawstack.py):
- `echo`: a grpc.aio server whose one bidi method answers every message with the bytes it got.
- `ws`: an aiohttp WebSocket handler; per WebSocket one grpc.aio stream_stream call to `echo`.
  Each client text frame is an AIGES frame: json.loads, base64-decode the audio, write
  `status byte + audio bytes` to the stream; each reply: base64-encode, json.dumps an AIGES
  result frame, send it. After the final frame (status 2) it half-closes; when the stream
  ends it closes the WebSocket (1000), as our gateway does.

The work per frame is what ours does with the stdlib: JSON in, base64 decoded (ours encodes
it straight into the CallRequest), raw bytes over one gRPC stream, base64 encoded and JSON
out. What it leaves out is what makes ours a server rather than a demo: the AIGES checks, a
sid, routing to a worker, protobuf envelopes, the session engine and wrapper threads,
timeouts, error frames, metrics. A reply runs in its own task, as it must: a stream ability
may answer late, answer twice or not at all, so a gateway cannot wait for a reply per frame.

    python -m bench.rawsessions echo --port 50061
    python -m bench.rawsessions ws   --port 8091 --upstream 127.0.0.1:50061
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
from collections.abc import AsyncIterator

import grpc
from aiohttp import WSMsgType, web

from bench.rawstack import _OPTIONS, _serve_grpc, _until_signalled

METHOD = "/loader.v1.Loader/Session"  # the path our gateway streams to; bytes are opaque here
ROUTE = "/v1/private/frames"


async def echo(port: int) -> None:
    async def session(requests: AsyncIterator[bytes],
                      context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        async for request in requests:
            yield request

    service, method = METHOD.strip("/").split("/")
    handler = grpc.method_handlers_generic_handler(
        service, {method: grpc.stream_stream_rpc_method_handler(session)}  # type: ignore[arg-type]
    )
    await _serve_grpc(port, handler)


async def ws(port: int, upstream: str) -> None:
    sids = itertools.count()
    async with grpc.aio.insecure_channel(upstream, options=_OPTIONS) as channel:
        forward = channel.stream_stream(METHOD)

        async def handle(request: web.Request) -> web.WebSocketResponse:
            sock = web.WebSocketResponse(max_msg_size=128 << 20)
            await sock.prepare(request)
            sid = f"raw{next(sids)}"
            call = forward()

            async def drain() -> None:
                async for reply in call:
                    status = reply[0]
                    answer = {"header": {"code": 0, "message": "success", "sid": sid,
                                         "status": status},
                              "payload": {"audio": {"encoding": "raw", "status": str(status),
                                                    "audio": base64.b64encode(
                                                        reply[1:]).decode()}}}
                    await sock.send_str(json.dumps(answer))

            replies = asyncio.create_task(drain())
            try:
                async for message in sock:
                    if message.type is not WSMsgType.TEXT:
                        break
                    item = json.loads(message.data)["payload"]["audio"]
                    status = int(item["status"])
                    await call.write(bytes((status,)) + base64.b64decode(item["audio"]))
                    if status == 2:
                        await call.done_writing()
                        await replies
                        break
            finally:
                call.cancel()
                replies.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await replies
                await sock.close()
            return sock

        app = web.Application()
        app.router.add_get(ROUTE, handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await _until_signalled()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rawsessions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", choices=("echo", "ws"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", default="")
    args = parser.parse_args()
    asyncio.run(echo(args.port) if args.role == "echo" else ws(args.port, args.upstream))


if __name__ == "__main__":
    main()
