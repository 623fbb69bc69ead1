"""The ability's declared schema: read once from an SDK-style wrapper's fields, checked per call.

AIGES SDK wrappers declare their HTTP API on the class: `requestCls` and `responseCls` are
instances (or classes) whose class attributes are field objects, e.g. `StringParamField`,
`ImageBodyField`, `StringBodyField`. They are read by duck typing, so the real `aiges` SDK's
fields and our compatibility package's read the same: a field class whose name (or a base's)
ends in `ParamField` is a parameter, one ending in `BodyField`, `RespField` or
`PayloadField` is a payload. What is read travels in `Describe` as `schema_json`:

    {"params":  {key: {"type": "string"|"number"|"integer"|"boolean", "required": bool,
                       "default", "enum", "minimum", "maximum", "minLength", "maxLength",
                       "title", "description"}},
     "inputs":  {key: {"type": "text"|"audio"|"image"|"video", "required": bool,
                       "encoding", "format", "compress", "status"}},
     "outputs": {key: {"type": ..., "encoding", "format", "compress"}}}

Every call is checked against it before the wrapper runs. An input field's own `required`
decides when it has one (our SDK stand-in's fields take it); the real SDK has no such flag, so
then the only declared input is required (a wrapper with one input cannot work without it) and
each of several is optional (wrappers declare example inputs they treat as optional). A
parameter must be present when `required`, parse as its type, and be one of its `enum`.
Bounds (`minimum`, `maxLength`, ...) are documented, not enforced: the SDK gives every numeric
field a default range of 0..100 that wrappers never meant as a limit.
"""
from __future__ import annotations

import inspect
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from loader.errors import InvalidRequest
from loader.v1.codes import Code
from loader.v1.wire import TYPE_NAMES

__all__ = ["Schema"]

_PARAM_TYPES = ("string", "number", "integer", "boolean")
# (field attribute, schema key) copied when present and not None
_PARAM_ATTRS = (("enums", "enum"), ("minimum", "minimum"), ("maximum", "maximum"),
                ("min_length", "minLength"), ("max_length", "maxLength"),
                ("title", "title"), ("description", "description"))
_PAYLOAD_ATTRS = ("encoding", "format", "compress", "status")


@dataclass(frozen=True)
class Schema:
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, target: Any) -> Schema | None:
        """The schema `target` (a wrapper instance or module) declares, or None."""
        request = getattr(target, "requestCls", None)
        response = getattr(target, "responseCls", None)
        if request is None and response is None:
            return None
        params: dict[str, dict[str, Any]] = {}
        inputs: dict[str, dict[str, Any]] = {}
        for name, value in _fields(request):
            if _is(value, "ParamField"):
                params[_key(value, name)] = _param(value)
            elif _is_payload(value):
                inputs[_key(value, name)] = _payload(value)
        sole = len(inputs) == 1
        for spec in inputs.values():
            if spec.get("required") is None:
                spec["required"] = sole
        outputs = {_key(value, name): _payload(value)
                   for name, value in _fields(response)
                   if _is_payload(value) or name.startswith("accept")}
        for spec in outputs.values():
            spec.pop("required", None)
        return cls(params, inputs, outputs)

    def to_json(self) -> str:
        return json.dumps({"params": self.params, "inputs": self.inputs,
                           "outputs": self.outputs}, default=str)

    def check(self, params: Mapping[str, str], data: Any) -> None:
        """Raise InvalidRequest naming the first declared input or parameter the call lacks or
        gets wrong; `data` is the call's DataListCls."""
        for key, spec in self.inputs.items():
            if spec.get("required", True) and data.get(key) is None:
                sent = ", ".join(repr(node.key) for node in data.list) or "none"
                raise InvalidRequest(
                    f"input {key!r} ({spec['type']}) is required by the ability's schema; "
                    f"the request sent: {sent}", Code.REQUEST_CONVERSION)
        for key, spec in self.params.items():
            value = params.get(key)
            if value is None:
                if spec.get("required"):
                    raise InvalidRequest(f"parameter {key!r} is required by the ability's "
                                         "schema", Code.BAD_PARAMETER)
                continue
            _check_param(key, value, spec)


def _fields(declared: Any) -> Iterator[tuple[str, Any]]:
    if declared is None:
        return
    owner = declared if inspect.isclass(declared) else type(declared)
    seen: set[str] = set()
    for klass in owner.__mro__:
        for name, value in vars(klass).items():
            if name not in seen and not name.startswith("_") and not callable(value):
                seen.add(name)
                yield name, value


def _is(value: Any, suffix: str) -> bool:
    return any(klass.__name__.endswith(suffix) for klass in type(value).__mro__)


def _is_payload(value: Any) -> bool:
    return any(_is(value, suffix) for suffix in ("BodyField", "RespField", "PayloadField"))


def _key(value: Any, name: str) -> str:
    return str(getattr(value, "key", None) or name)


def _param(value: Any) -> dict[str, Any]:
    kind = str(getattr(value, "data_type", "string"))
    spec: dict[str, Any] = {"type": kind if kind in _PARAM_TYPES else "string",
                            "required": bool(getattr(value, "required", False))}
    default = getattr(value, "default", None) if kind == "boolean" else getattr(
        value, "value", None)
    if default is not None and default != "":
        spec["default"] = default
    for attr, key in _PARAM_ATTRS:
        found = getattr(value, attr, None)
        if found not in (None, "", []):
            spec[key] = list(found) if attr == "enums" else found
    if "enum" in spec:  # a list of choices makes the SDK's default bounds meaningless
        for bound in ("minimum", "maximum", "minLength", "maxLength"):
            spec.pop(bound, None)
    return spec


def _payload(value: Any) -> dict[str, Any]:
    data_type = getattr(value, "data_type", 0)
    spec: dict[str, Any] = {"type": TYPE_NAMES.get(data_type if isinstance(data_type, int)
                                                   else 0, "text")}
    declared = getattr(value, "required", None)
    spec["required"] = None if declared is None else bool(declared)
    for attr in _PAYLOAD_ATTRS:
        found = getattr(value, attr, None)
        if isinstance(found, (str, int)) and not isinstance(found, bool) and found != "":
            spec[attr] = found
    return spec


def _check_param(key: str, value: str, spec: Mapping[str, Any]) -> None:
    kind = spec["type"]
    if kind == "boolean":
        ok = value.lower() in ("true", "false", "1", "0")
    elif kind == "integer":
        ok = _parses(value, int)
    elif kind == "number":
        ok = _parses(value, float) and math.isfinite(float(value))
    else:
        ok = True
    if not ok:
        raise InvalidRequest(f"parameter {key!r} must be {_article(kind)} {kind}, not "
                             f"{value!r}", Code.BAD_PARAMETER)
    choices = spec.get("enum")
    if choices and not _among(value, kind, choices):
        listed = ", ".join(repr(_as_param(choice)) for choice in choices)
        raise InvalidRequest(f"parameter {key!r} must be one of {listed}, not {value!r}",
                             Code.BAD_PARAMETER)


def _among(value: str, kind: str, choices: list[Any]) -> bool:
    if kind in ("number", "integer"):  # "3" is the enum's 3.0
        numbers = {float(c) for c in choices if isinstance(c, (int, float, str)) and _parses(
            str(c), float)}
        return float(value) in numbers
    return value in {_as_param(choice) for choice in choices}


def _parses(value: str, kind: type) -> bool:
    try:
        kind(value)
    except ValueError:
        return False
    return True


def _as_param(choice: Any) -> str:
    """An enum value as the gateway passes parameters: strings, booleans as true/false."""
    if isinstance(choice, bool):
        return "true" if choice else "false"
    return str(choice)


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"
