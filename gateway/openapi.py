"""OpenAPI 3.1 for the HTTP edge: each ability's declared schema inside the AIGES envelope.

Pure functions of `loader_pb2.Ability` messages, tested without a server. `schema_json` is
what `Describe` carries (loader/schema.py writes it); "" means the wrapper declares nothing,
and that ability still gets a usable path: any input names, any params.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gateway.declared import JSON, OUTPUT_ATTRS, data_key, example_request, read_schema
from loader.v1 import loader_pb2
from loader.v1.wire import DATA_KEYS

__all__ = ["ERROR_TABLE", "FIXED_PATHS", "document", "path_item"]

_B64 = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
_SCALAR: JSON = {"type": ["string", "number", "boolean"]}
_PARAM_KEYS = ("type", "default", "enum", "minimum", "maximum", "minLength", "maxLength",
               "title", "description")
_ERRORS = "#/components/responses/"

# (HTTP status, what happens, the header.code values it carries): README's error table
ERROR_TABLE: tuple[tuple[int, str, str], ...] = (
    (400, "Bad request", "10000 body not JSON; 10001 payload empty, not base64, with no or "
     "several data keys, a bad status, or a required input missing; 10163 body, header, "
     "parameter or payload not an object, or parameter keyed by another service id; 10107 "
     "a list as a parameter value, or a parameter outside its declared type or enum"),
    (404, "No ability at this route", "10404 (the message lists the routes served)"),
    (405, "Method not allowed", "10163: only POST calls an ability (see the Allow header)"),
    (413, "Body too large", "10413: the body is over the gateway's max_body_mb"),
    (429, "Every worker is at its licence", "10110; retry after Retry-After seconds"),
    (500, "The ability failed", "10909 the wrapper raised; the wrapper's own error code N "
     "(message from its wrapperError(N)); 10106 no output, an output not asked for "
     "or of the wrong type; 10500 a fault in the gateway itself"),
    (502, "The worker died during the call", "10109 (the worker is restarted)"),
    (503, "No worker reachable", "10503; retry after Retry-After seconds"),
    (504, "The ability exceeded the deadline", "10102"),
)
_RETRY = {429, 503}

def _base64(what: str) -> JSON:
    return {"type": "string", "contentEncoding": "base64", "pattern": _B64,
            "description": f"{what}, base64-encoded"}


def _other_data_keys(kind: str) -> JSON:
    """For `not`: one data key per item (a `false` property would show in UI examples)."""
    return {"anyOf": [{"required": [other]} for other in DATA_KEYS if other != kind]}


def _input_item(kind: str | None, spec: Mapping[str, Any]) -> JSON:
    """One payload item: exactly one data key (`kind`'s, or any when None) and attributes."""
    if kind is None:
        return {"oneOf": [_input_item(key, {}) for key in DATA_KEYS],
                "description": "one input: its data key (text, audio, image or video) gives "
                               "the data type"}
    properties: JSON = {kind: _base64(f"the {kind} data")}
    properties["status"] = {"type": "integer", "enum": [0, 1, 2, 3],
                            "default": spec.get("status", 3),
                            "description": "0 first, 1 continue, 2 last, 3 once"}
    for attr in ("encoding", "format", "compress"):
        properties[attr] = {"type": "string"}
        if attr in spec:
            properties[attr]["default"] = spec[attr]
    return {"type": "object", "title": f"{kind} input", "required": [kind],
            "not": _other_data_keys(kind), "properties": properties,
            "additionalProperties": _SCALAR,
            "description": "every other scalar attribute (sample_rate, channels, ...) "
                           "reaches the wrapper in desc, as a string"}


def _output_item(kind: str | None, spec: Mapping[str, Any]) -> JSON:
    if kind is None:
        return {"oneOf": [_output_item(key, {}) for key in DATA_KEYS]}
    data: JSON = (
        {"type": "string", "description": "the text as is; base64 when it is not UTF-8 "
                                          "(then encoding is \"base64\")"}
        if kind == "text" else _base64(f"the {kind} data"))
    properties: JSON = {kind: data, "status": {"type": "string", "examples": ["3"]},
                        "seq": {"type": "string", "examples": ["0"]}}
    for attr in OUTPUT_ATTRS:
        properties[attr] = {"type": "string"}
        if attr in spec:
            properties[attr]["examples"] = [str(spec[attr])]
    return {"type": "object", "title": f"{kind} output", "required": [kind, "status"],
            "not": _other_data_keys(kind),
            "properties": properties, "additionalProperties": {"type": "string"}}


def _accept(spec: Mapping[str, Any]) -> JSON:
    """An output declaration: an object under parameter.<serviceId>, named by the output."""
    properties: JSON = {}
    for attr in OUTPUT_ATTRS:
        properties[attr] = {"type": "string"}
        if attr in spec:
            properties[attr]["default"] = spec[attr]
    return {"type": "object", "properties": properties, "additionalProperties": _SCALAR,
            "description": "declares an expected output (its key) and its attributes; when "
                           "any is declared the wrapper may produce only those"}


def _params(service_id: str, declared: JSON | None) -> JSON:
    if declared is None:
        return {"type": "object", "additionalProperties": {"anyOf": [_SCALAR, _accept({})]},
                "description": "scalar values reach the wrapper as string params; an object "
                               "value declares an expected output"}
    properties: JSON = {}
    required: list[str] = []
    for key, spec in declared["params"].items():
        properties[key] = {k: spec[k] for k in _PARAM_KEYS if k in spec}
        if spec.get("required"):
            required.append(key)
    for key, spec in declared["outputs"].items():
        properties[key] = {**_accept(spec), "title": f"output {key} ({data_key(spec)})"}
    result: JSON = {"type": "object", "properties": properties,
                    "additionalProperties": _SCALAR,
                    "description": f"the params of {service_id!r} (passed as strings) and "
                                   "declarations of the outputs wanted"}
    if required:
        result["required"] = required
    return result


def _request(ability: loader_pb2.Ability, declared: JSON | None) -> JSON:
    payload: JSON = {"type": "object", "minProperties": 1,
                     "additionalProperties": _input_item(None, {}),
                     "description": "the inputs, by name"}
    if declared is not None and declared["inputs"]:
        inputs = declared["inputs"]
        payload["properties"] = {key: _input_item(data_key(spec), spec)
                                 for key, spec in inputs.items()}
        required = [key for key, spec in inputs.items() if spec.get("required", True)]
        if required:
            payload["required"] = required
    parameter = {"type": "object",
                 "properties": {ability.service_id: _params(ability.service_id, declared)},
                 "additionalProperties": False,
                 "description": "keyed by the ability's service id, and by nothing else"}
    return {"type": "object", "required": ["payload"],
            "properties": {"header": {"$ref": "#/components/schemas/RequestHeader"},
                           "parameter": parameter, "payload": payload}}


def _response(declared: JSON | None) -> JSON:
    payload: JSON = {"type": "object", "additionalProperties": _output_item(None, {}),
                     "description": "the outputs, by key: text as text, the rest base64"}
    if declared is not None and declared["outputs"]:
        payload["properties"] = {key: _output_item(data_key(spec), spec)
                                 for key, spec in declared["outputs"].items()}
    return {"type": "object", "required": ["header", "payload"],
            "properties": {"header": {"$ref": "#/components/schemas/SuccessHeader"},
                           "payload": payload}}


# with `Accept: text/event-stream` (gateway/events.py)
_EVENTS: JSON = {"schema": {
    "type": "string",
    "description": "Server-sent events: each result as `event: result` (with an `id`) whose "
                   "data is one success body, as it comes (a stream ability's last has "
                   "header.status 2; a once-only ability sends one); a failure after the "
                   "first event is one `event: error` whose data is an Error body. Payload "
                   "statuses 0 and 1 are refused (10001): the body is the whole input."}}


def path_item(ability: loader_pb2.Ability) -> JSON:
    """The path item of `POST <ability.route>`."""
    declared = read_schema(ability.schema_json)
    facts = [f"service id `{ability.service_id}`, version `{ability.version}`"]
    if ability.wrapper_version:
        facts.append(f"wrapper `{ability.wrapper_version}`")
    if ability.licence:
        facts.append(f"{ability.licence} concurrent calls per worker")
    schema_note = ("Params, inputs and outputs as the wrapper declares them."
                   if declared is not None else
                   "The wrapper declares no schema: any input names, any params.")
    responses: JSON = {"200": {
        "description": "Success: header.code 0 and the outputs",
        "content": {"application/json": {"schema": _response(declared)},
                    "text/event-stream": _EVENTS}}}
    responses.update({str(status): {"$ref": f"{_ERRORS}{status}"}
                      for status, _, _ in ERROR_TABLE})
    return {"post": {
        "operationId": ability.service_id,
        "tags": ["abilities"],
        "summary": f"Call {ability.service_id}",
        "description": f"{'; '.join(facts)}.\n\n{schema_note}",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": _request(ability, declared),
            "example": example_request(ability)}}},
        "responses": responses,
    }}


def _components() -> JSON:
    scalar_header = {"type": "object", "additionalProperties": _SCALAR}
    request_header = {**scalar_header, "properties": {
        "app_id": {"type": "string"}, "uid": {"type": "string"},
        "status": {"type": "integer", "enum": [0, 1, 2, 3], "default": 3}},
        "description": "platform fields; those named in [aiges] headerPass reach the wrapper's "
                       "params; the sid is assigned by the gateway"}
    success_header = {"type": "object", "required": ["code", "message", "sid", "status"],
                      "properties": {"code": {"const": 0}, "message": {"type": "string"},
                                     "sid": {"type": "string"}, "status": {"type": "integer"}}}
    error = {"type": "object", "required": ["header"], "properties": {"header": {
        "type": "object", "required": ["code", "message", "sid"],
        "properties": {"code": {"type": "integer"}, "message": {"type": "string"},
                       "sid": {"type": "string"}}}}}
    responses: JSON = {}
    for status, title, codes in ERROR_TABLE:
        example = {"header": {"code": int(codes[:5]), "message": title,
                              "sid": "atn0123456789abcdef0123456789abcdef"}}
        response: JSON = {"description": f"{title}. header.code: {codes}",
                          "content": {"application/json": {
                              "schema": {"$ref": "#/components/schemas/Error"},
                              "example": example}}}
        if status in _RETRY:
            response["headers"] = {"Retry-After": {"required": True, "description": "seconds",
                                                   "schema": {"type": "string"}}}
        responses[str(status)] = response
    return {"schemas": {"RequestHeader": request_header, "SuccessHeader": success_header,
                        "Error": error}, "responses": responses}


def _get(summary: str, schema: JSON, media: str = "application/json",
         others: Mapping[str, str] | None = None) -> JSON:
    responses: JSON = {"200": {"description": summary, "content": {media: {"schema": schema}}}}
    for status, description in (others or {}).items():
        responses[status] = {"description": description, "content": {media: {"schema": schema}}}
    return {"get": {"tags": ["gateway"], "summary": summary, "responses": responses}}


def _fixed_paths(metrics: bool = True) -> JSON:
    """The gateway's own routes on its public port; `metrics`: /metrics is among them (not
    when [gateway] admin_port serves it, and the readiness details, on a listener of its own)."""
    worker = {"type": "object", "properties": {
        "worker": {"type": "integer"}, "ability": {"type": "string"},
        "healthy": {"type": "boolean"}, "outstanding": {"type": "integer"}}}
    ability = {"type": "object", "properties": {
        "service_id": {"type": "string"}, "version": {"type": "string"},
        "route": {"type": "string"}, "licence": {"type": "integer"},
        "operations": {"type": "array", "items": {"type": "string"}},
        "wrapper_version": {"type": "string"}}}
    return {
        "/healthz": _get("The gateway process is up", {
            "type": "object", "properties": {"status": {"const": "ok"}}}),
        "/readyz": _get("The gateway can serve: some ability (or each of [gateway] "
                        "ready_abilities) has a worker taking calls", {
            "type": "object", "properties": {
                "status": {"enum": ["ready", "not ready", "draining"]},
                "workers": {"type": "array", "items": worker}}},
            others={"503": "No ability (or not each listed one) has a worker taking calls, "
                           "or the gateway is draining before it stops"}),
        "/readyz/{serviceId}": {**_get("This ability has a worker taking calls", {
            "type": "object", "properties": {
                "status": {"enum": ["ready", "not ready", "draining"]}}},
            others={"503": "The ability has no worker taking calls now",
                    "404": "No such ability was ever served here"}),
            "parameters": [{"name": "serviceId", "in": "path", "required": True,
                            "schema": {"type": "string"}}]},
        "/v1/abilities": _get("The abilities served", {
            "type": "object", "properties": {"abilities": {"type": "array", "items": ability}}}),
        **({"/metrics": _get("Prometheus metrics (text exposition format)",
                             {"type": "string"}, media="text/plain")} if metrics else {}),
    }


FIXED_PATHS = tuple(_fixed_paths())


def document(abilities: Iterable[loader_pb2.Ability], *, version: str = "0",
             make_item: Callable[[loader_pb2.Ability], JSON] = path_item,
             metrics: bool = True) -> JSON:
    """The whole document: a path per ability (from `make_item`, which a server may memoize
    per ability) and the gateway's fixed routes (`metrics`: with /metrics)."""
    paths: JSON = {}
    for ability in sorted(abilities, key=lambda a: a.route):
        if ability.route in FIXED_PATHS:
            continue  # the gateway's own route answers there: the ability is unreachable
        paths[ability.route] = make_item(ability)
    paths.update(_fixed_paths(metrics))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Athena Mesh", "version": version, "description": _DESCRIPTION},
        "tags": [{"name": "abilities", "description": "AIGES one-shot calls"},
                 {"name": "gateway", "description": "health, readiness, metrics"}],
        "paths": paths,
        "components": _components(),
    }


_DESCRIPTION = """AIGES abilities over HTTP. Each call is one JSON request:

- `header`: platform fields (`app_id`, `uid`, `status`); the gateway assigns the `sid`.
- `parameter.<serviceId>`: scalar params (they reach the wrapper as strings) and output
  declarations (objects such as `"result": {"encoding": "utf8", "format": "json"}`).
- `payload.<input>`: one object per input whose data key (`text`, `audio`, `image` or
  `video`) carries the data in base64 and gives its type; its other keys are attributes.

A success has `header.code` 0; outputs come back under `payload`, text as text and the rest
in base64. A failure is `{"header": {"code", "message", "sid"}}` with the HTTP status of the
error table (each error response lists its codes)."""
