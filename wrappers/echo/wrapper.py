"""Echo ability: every input comes back as an output with the same key, type and attributes.

The smallest complete AIGES wrapper, meant to be copied. It shows the whole once-call
contract: the class attributes that name the route (``/v1/private/echo``), the lifecycle
methods the loader calls, and how to answer without copying the request's data.
"""

from __future__ import annotations

import logging

from aiges_embed import DataListCls, DataListNode, Response, ResponseData

__all__ = ["ERR_NO_INPUT", "Wrapper"]

log = logging.getLogger(__name__)

DATA_ONCE = 3  # every output of a once call carries status "once"

# This wrapper's own error codes (13001-13099). The loader reports them as
# "<wrapperError(code)>;code=<code>".
ERR_NO_INPUT = 13001

_MESSAGES = {
    ERR_NO_INPUT: "the request carried no input: add at least one item under 'payload'",
}


class Wrapper:
    """Returns each input unchanged; the loader builds one instance per worker."""

    serviceId = "echo"
    version = "v1"

    def wrapperInit(self, config: dict[str, str]) -> int:
        # config is the [wrapper] section of aiges.toml, every value a string
        log.info("echo ready (config keys: %s)", ", ".join(sorted(config)) or "none")
        return 0

    def wrapperFini(self) -> int:
        return 0

    def wrapperVersion(self) -> str:
        return "echo 1.0.0"

    def wrapperError(self, code: int) -> str:
        return _MESSAGES.get(code, f"echo: unknown error code {code}")

    def wrapperOnceExec(
        self,
        params: dict[str, str],
        reqData: DataListCls,
        usrTag: str = "",
        persId: int = 0,
    ) -> Response:
        # an empty output list is an error anyway; say why instead of "output data is nil"
        if not reqData.list:
            return Response().response_err(ERR_NO_INPUT)
        response = Response()
        response.list = [_echo(node) for node in reqData.list]
        return response


def _echo(node: DataListNode) -> ResponseData:
    out = ResponseData()
    out.key = node.key
    out.type = node.type
    out.status = DATA_ONCE
    out.desc = node.desc
    # hands the request's buffer straight back: the only copy is the one into the response
    out.setData(node.data)
    return out
