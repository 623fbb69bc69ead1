"""Test ability in the async-generator session style: `async def wrapperStream(params, frames)`
takes each frame as it arrives and yields a result for it (upper-cased, the frame's status).
Params: raise_on=<text> raises on that frame, batch=1 answers only once all frames are in
(joined), kept=1 keeps every frame's DataListCls until the end and answers with all of them
(the frames' data must stay valid after later frames arrived). `closed` lists the sids whose
generator ran its `finally`."""
import asyncio

from aiges_embed import Response, ResponseData

closed = []


def _result(data, status):
    out = ResponseData(key="result", status=status)
    out.setData(data)
    return Response([out])


class Wrapper:
    serviceId = "stream_generator"

    def wrapperInit(self, config):
        return 0

    async def wrapperStream(self, params, frames, sid=""):
        kept = []
        try:
            async for frame in frames:
                item = frame.list[0]
                if params.get("raise_on") == bytes(item.data).decode():
                    raise ValueError(f"refused {bytes(item.data)!r}")
                if params.get("batch") or params.get("kept"):
                    kept.append(frame)
                    continue
                await asyncio.sleep(0)
                yield _result(bytes(item.data).upper(), item.status)
            if kept:
                yield _result(b"+".join(bytes(f.list[0].data) for f in kept), 2)
        finally:
            closed.append(sid)
