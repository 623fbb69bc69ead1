"""The raw stack: the least our architecture can cost, with no framework at all.

Three bare processes, each the obvious few lines a competent engineer would write:
- `echo`: a grpc.aio server answering every call with the bytes it got (no protobuf).
- `proxy`: a grpc.aio server forwarding each call's bytes to `echo` (what our gateway's
  public gRPC port does, minus routing, health, metrics and error mapping).
- `rest`: an aiohttp handler doing what our REST path does for an AIGES request with the
  stdlib: json.loads, base64-decode the payload, one gRPC call to `echo`, base64 back, json.dumps.

    python -m bench.rawstack echo  --port 50051
    python -m bench.rawstack proxy --port 50052 --upstream 127.0.0.1:50051
    python -m bench.rawstack rest  --port 8081  --upstream 127.0.0.1:50051
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import signal

import grpc
from aiohttp import web

METHOD = "/loader.v1.Loader/Call"  # the path our bodies are sent to; bytes are opaque here
_OPTIONS = [("grpc.max_send_message_length", 128 << 20),
            ("grpc.max_receive_message_length", 128 << 20)]


async def _serve_grpc(port: int, handler: grpc.GenericRpcHandler) -> None:
    server = grpc.aio.server(options=_OPTIONS)
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await _until_signalled()
    await server.stop(1)


async def _until_signalled() -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()


def _unary(behaviour: object) -> grpc.GenericRpcHandler:
    service, method = METHOD.strip("/").split("/")
    return grpc.method_handlers_generic_handler(
        service, {method: grpc.unary_unary_rpc_method_handler(behaviour)}  # type: ignore[arg-type]
    )


async def echo(port: int) -> None:
    async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    await _serve_grpc(port, _unary(call))


async def proxy(port: int, upstream: str) -> None:
    async with grpc.aio.insecure_channel(upstream, options=_OPTIONS) as channel:
        forward = channel.unary_unary(METHOD)

        async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            return await forward(request)

        await _serve_grpc(port, _unary(call))


async def rest(port: int, upstream: str) -> None:
    async with grpc.aio.insecure_channel(upstream, options=_OPTIONS) as channel:
        forward = channel.unary_unary(METHOD)

        async def handle(request: web.Request) -> web.Response:
            body = json.loads(await request.read())
            item = body["payload"]["data"]
            reply = await forward(base64.b64decode(item["audio"]))
            output = {"encoding": item.get("encoding", "raw"), "status": "3",
                      "audio": base64.b64encode(reply).decode()}
            answer = {"header": {"code": 0, "message": "success", "sid": "raw", "status": 3},
                      "payload": {"data": output}}
            return web.Response(text=json.dumps(answer), content_type="application/json")

        app = web.Application(client_max_size=128 << 20)
        app.router.add_post("/v1/private/echo", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await _until_signalled()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rawstack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", choices=("echo", "proxy", "rest"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", default="")
    args = parser.parse_args()
    if args.role == "echo":
        asyncio.run(echo(args.port))
    elif args.role == "proxy":
        asyncio.run(proxy(args.port, args.upstream))
    else:
        asyncio.run(rest(args.port, args.upstream))


if __name__ == "__main__":
    main()
