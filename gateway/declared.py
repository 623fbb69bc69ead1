"""What an ability declares, as the gateway reads it: the schema in its Describe, and a request
ready to send built from it (for /openapi.json examples and the /docs try-it button)."""
from __future__ import annotations

import base64
import io
import json
import math
import wave
from collections.abc import Mapping
from typing import Any

from loader.v1 import loader_pb2
from loader.v1.wire import DATA_KEYS

__all__ = ["JSON", "OUTPUT_ATTRS", "data_key", "example_request", "read_schema"]

JSON = dict[str, Any]

OUTPUT_ATTRS = ("encoding", "format", "compress")

_SAMPLE_TEXT = "hello"
# an 8x8 grey PNG with a dark stroke, and the same as a JPEG
_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAAHElEQVR42mP8zwABTAwMDAyMjFAGXIQAgxGmH"
        "QBRowIPeFH9WwAAAABJRU5ErkJggg==")
_JPEG = ("/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQ"
         "ERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/wAALCAAIAAgBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAEC"
         "AwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAk"
         "M2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJ"
         "ipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3"
         "+Pn6/9oACAEBAAA/AOo1L7Z/wkei+R5/2X9/9o2Z2fcG3djjr0zX/9k=")
_PCM = b"\0\0" * 160  # 10 ms of 16 kHz 16-bit mono silence


def _wav() -> str:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16000)
        writer.writeframes(_PCM)
    return base64.b64encode(out.getvalue()).decode("ascii")


def read_schema(schema_json: str) -> JSON | None:
    """The declared params, inputs and outputs, or None when the wrapper declares none (or
    sent something unreadable: the ability is then documented as undeclared)."""
    try:
        declared = json.loads(schema_json) if schema_json else None
    except ValueError:
        return None
    if not isinstance(declared, dict):
        return None
    parts = {part: declared.get(part) for part in ("params", "inputs", "outputs")}
    return {part: {str(k): v for k, v in value.items() if isinstance(v, dict)}
            if isinstance(value, dict) else {} for part, value in parts.items()}


def data_key(spec: Mapping[str, Any]) -> str:
    kind = str(spec.get("type", "text"))
    return kind if kind in DATA_KEYS else "text"


def _example_value(spec: Mapping[str, Any]) -> Any:
    if "default" in spec:
        return spec["default"]
    if spec.get("enum"):
        return spec["enum"][0]
    kind = spec.get("type", "string")
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        low = spec.get("minimum", min(0, spec.get("maximum", 0)))
        return math.ceil(low) if kind == "integer" else low
    return "a" * int(spec.get("minLength", 1))


def _example_input(kind: str, spec: Mapping[str, Any]) -> JSON:
    encoding = str(spec.get("encoding", "")).lower()
    item: JSON
    if kind == "image":
        jpeg = encoding in ("jpg", "jpeg")
        item = {"encoding": "jpg" if jpeg else "png", "image": _JPEG if jpeg else _PNG}
    elif kind == "audio":
        wav = encoding == "wav"
        item = {"encoding": encoding or "raw", "sample_rate": 16000, "channels": 1,
                "bit_depth": 16,
                "audio": _wav() if wav else base64.b64encode(_PCM).decode("ascii")}
    elif kind == "video":  # a placeholder: no video is small enough to show here
        item = {"encoding": encoding or "h264", "video": base64.b64encode(b"\0\0\0\1").decode()}
    else:
        text = '{"text": "hello"}' if spec.get("format") == "json" else _SAMPLE_TEXT
        item = {"encoding": encoding or "utf8", "text": base64.b64encode(text.encode()).decode()}
    for attr in ("format", "compress"):
        if attr in spec:
            item[attr] = spec[attr]
    return {**item, "status": spec.get("status", 3)}


def example_request(ability: loader_pb2.Ability) -> JSON:
    """A request ready to send: declared params from their defaults or enums, every declared
    output asked for, each declared input a small valid sample of its type ("hello" for
    text, a tiny PNG for images); undeclared abilities get one text input, "hello"."""
    declared = read_schema(ability.schema_json)
    params: JSON = {}
    payload: JSON = {"text": _example_input("text", {})}
    if declared is not None:
        params = {key: _example_value(spec) for key, spec in declared["params"].items()
                  if spec.get("required") or "default" in spec or spec.get("enum")}
        params.update({key: {a: spec[a] for a in OUTPUT_ATTRS if a in spec}
                       for key, spec in declared["outputs"].items()})
        if declared["inputs"]:
            payload = {key: _example_input(data_key(spec), spec)
                       for key, spec in declared["inputs"].items()}
    return {"header": {"app_id": "athena-docs", "uid": "docs", "status": 3},
            "parameter": {ability.service_id: params}, "payload": payload}
