"""{{name}}: an AIGES ability (written by `athena new {{name}}`; make it yours).

Serve it:  athena serve {{name}}/wrapper.py
Call it:   athena call http://127.0.0.1:8080/v1/private/{{name}} --text @{{name}}/test_data/hello.txt
Test it:   python -m pytest {{name}}

The class attributes name the route (POST /{version}/private/{serviceId}) and describe its
request and response; the wrapper* methods are the calls the loader makes.
"""

from __future__ import annotations

import json

from aiges.core.types import DataOnce, DataText
from aiges.dto import DataListCls, Response, ResponseData
from aiges.sdk import StringBodyField, StringParamField, WrapperBase
from aiges.utils.log import log

# Import what your model needs here, and list those packages in requirements.txt, e.g.
# import numpy as np
# import torch

# This ability's own error codes; wrapperError turns each into the message the caller sees.
ERR_BAD_CONFIG = 13001
ERR_NO_TEXT = 13002
ERR_NOT_UTF8 = 13003
ERR_TOO_LONG = 13004

_MESSAGES = {
    ERR_BAD_CONFIG: "[wrapper] max_chars in aiges.toml must be a positive whole number",
    ERR_NO_TEXT: 'the request has no "text" input: send it as "payload": {"text": {...}}',
    ERR_NOT_UTF8: 'the "text" input is not UTF-8',
    ERR_TOO_LONG: 'the "text" input is longer than [wrapper] max_chars in aiges.toml allows',
}


class UserRequest:
    """The request. Param fields are parameter.{{name}}.<key> (strings in params);
    body fields are the inputs, payload.<key>."""

    # a param with a default: callers may leave it out
    lang = StringParamField(key="lang", value="en", maxLength=16,
                            description="a setting your model takes (echoed back here)")
    # the text input; value is a sample for local debugging (the SDK wants bytes)
    text = StringBodyField(key="text", value=b"hello world")


class UserResponse:
    """The response: each body field is an output, payload.<key>."""

    result = StringBodyField(key="result", format="json")


class Wrapper(WrapperBase):
    serviceId = "{{name}}"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    max_chars = 10000  # replaced by [wrapper] max_chars in wrapperInit

    def wrapperInit(self, config: dict[str, str]) -> int:
        """Runs once per worker process, before any call: load your model here, e.g.
        self.model = torch.load(config["model_path"]) with model_path in aiges.toml's
        [wrapper] section (put model files in this folder, or give an absolute path).
        Returns 0, or an error code: the worker then refuses to start."""
        try:
            self.max_chars = int(config.get("max_chars", self.max_chars))
        except ValueError:
            return ERR_BAD_CONFIG
        if self.max_chars <= 0:
            return ERR_BAD_CONFIG
        log.info("{{name}} ready (max_chars %d)", self.max_chars)
        return 0

    def wrapperOnceExec(self, params: dict[str, str], reqData: DataListCls,
                        usrTag: str = "", persId: int = 0) -> Response:
        """One call. Calls may run at the same time on several threads ([fc] max in
        aiges.toml), so keep per-call state in local variables, not on self."""
        node = reqData.get("text")
        if node is None:
            return Response().response_err(ERR_NO_TEXT)
        try:
            text = bytes(node.data).decode("utf-8")
        except UnicodeDecodeError:
            return Response().response_err(ERR_NOT_UTF8)
        if len(text) > self.max_chars:
            return Response().response_err(ERR_TOO_LONG)
        lang = params.get("lang") or UserRequest.lang.value

        # Replace this with your model's inference, e.g. self.model(text).
        result = {"length": len(text), "upper": text.upper(), "lang": lang}

        out = ResponseData()
        out.key = "result"
        out.setDataType(DataText)
        out.status = DataOnce
        out.setData(json.dumps(result, ensure_ascii=False).encode("utf-8"))
        response = Response()
        response.list = [out]
        return response

    def wrapperError(self, code: int) -> str:
        return _MESSAGES.get(code, f"{{name}}: unknown error code {code}")

    def wrapperFini(self) -> int:
        """Runs once when the worker stops: release what wrapperInit took."""
        return 0
