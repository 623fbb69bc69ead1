"""Wrapper results: checked against the contract and the outputs the request asked for."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from loader.errors import InvalidOutput, WrapperFailed
from loader.v1.wire import TYPE_NAMES

__all__ = ["Accept", "checked_outputs"]

# (key, data type or None when unknown, attributes) as aiges_embed.parse_call returns them
Accept = tuple[str, "int | None", dict[str, str]]


def checked_outputs(
    response: Any, accepts: Sequence[Accept], error_text: Callable[[int], str], op: str
) -> list[Any]:
    """The outputs to send, or the error the client must see instead."""
    if response is None or not hasattr(response, "list"):
        raise InvalidOutput(f"{op} returned {type(response).__name__}, not a Response")
    code = int(getattr(response, "error_code", 0) or 0)
    if code:
        raise WrapperFailed(error_text(code), code)
    outputs = list(response.list or ())
    if not outputs:
        raise InvalidOutput("wrapper output data is nil: the Response list is empty")
    keys = [getattr(output, "key", None) for output in outputs]
    if len(set(keys)) != len(keys):
        twice = next(key for key in keys if keys.count(key) > 1)
        raise InvalidOutput(f"wrapper produced output {twice!r} more than once: each output "
                            "key may appear once in a Response")
    if not accepts:
        return outputs
    wanted = {key: data_type for key, data_type, _ in accepts}
    for output in outputs:
        key = getattr(output, "key", None)
        if key not in wanted:
            raise InvalidOutput(
                f"wrapper produced output {key!r}, which the request did not ask for "
                f"(asked for: {', '.join(sorted(wanted))})"
            )
        expected = wanted[key]
        actual = int(getattr(output, "type", 0) or 0)
        if expected is not None and actual != expected:
            raise InvalidOutput(
                f"wrapper produced output {key!r} as {TYPE_NAMES.get(actual, actual)}, "
                f"the request asked for {TYPE_NAMES.get(expected, expected)}"
            )
    return outputs
