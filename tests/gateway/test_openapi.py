"""gateway/openapi.py and gateway/docs.py: the document from constructed abilities (pure), and
/openapi.json and /docs of the in-process gateway in front of real in-process workers."""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from PIL import Image

from gateway import openapi
from gateway.declared import example_request
from gateway.docs import Docs
from gateway.openapi import ERROR_TABLE, document, path_item
from loader.v1 import loader_pb2
from tests.inprocess import Gateway, running_gateway, running_worker
from tests.support import ABILITIES, ROOT

WRAPPERS = [ROOT / "wrappers/echo/wrapper.py", ROOT / "wrappers/digits/wrapper.py",
            ABILITIES / "faulty" / "wrapper.py"]
JSON = dict[str, Any]

FULL = {
    "params": {
        "lang": {"type": "string", "required": True, "enum": ["en", "zh"],
                 "title": "Language", "description": "what the text is in"},
        "speed": {"type": "number", "required": False, "default": 1.0, "minimum": 0.5,
                  "maximum": 2.0},
        "beams": {"type": "integer", "required": False, "minimum": 1, "maximum": 8},
        "tag": {"type": "string", "required": False, "minLength": 2, "maxLength": 5},
        "punctuate": {"type": "boolean", "required": False, "default": True},
    },
    "inputs": {
        "doc": {"type": "text", "required": True, "encoding": "utf8", "format": "json"},
        "voice": {"type": "audio", "required": False, "encoding": "raw", "status": 3},
        "photo": {"type": "image", "required": True, "encoding": "jpg"},
        "clip": {"type": "video", "required": False, "compress": "raw"},
    },
    "outputs": {
        "result": {"type": "text", "encoding": "utf8", "format": "json", "compress": "raw"},
        "mask": {"type": "image", "encoding": "png"},
    },
}


def ability(service_id: str = "ocr", schema: JSON | None = None, **fields: Any
            ) -> loader_pb2.Ability:
    fields.setdefault("wrapper_version", f"{service_id} 1.0")
    return loader_pb2.Ability(
        service_id=service_id, version="v2", route=f"/v2/private/{service_id}",
        schema_json=json.dumps(schema) if schema is not None else "", licence=2,
        operations=["once"], **fields)


def operation(doc: JSON, route: str) -> JSON:
    post: JSON = doc["paths"][route]["post"]
    return post


def request_schema(doc: JSON, route: str) -> JSON:
    schema: JSON = operation(doc, route)["requestBody"]["content"]["application/json"]["schema"]
    return schema


def validator(doc: JSON, schema: JSON) -> Draft202012Validator:
    """A validator for one schema of the document, its #/components refs resolvable."""
    return Draft202012Validator({**schema, "components": doc["components"]})


def test_a_document_of_declared_and_undeclared_abilities_is_valid_openapi_3_1() -> None:
    doc = document([ability("ocr", FULL), ability("plain")])
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {"/v2/private/ocr", "/v2/private/plain", "/healthz",
                                 "/readyz", "/readyz/{serviceId}", "/v1/abilities", "/metrics"}


def test_the_validator_does_reject_a_broken_document() -> None:
    doc = document([ability("ocr", FULL)])
    del operation(doc, "/v2/private/ocr")["responses"]["200"]["description"]  # required
    with pytest.raises(OpenAPIValidationError):
        validate(doc)


def test_declared_params_keep_their_types_defaults_enums_bounds_and_required() -> None:
    doc = document([ability("ocr", FULL)])
    params = request_schema(doc, "/v2/private/ocr")["properties"]["parameter"]
    assert params["additionalProperties"] is False  # keyed by the service id alone
    ocr = params["properties"]["ocr"]
    assert ocr["required"] == ["lang"]
    props = ocr["properties"]
    assert props["lang"] == {"type": "string", "enum": ["en", "zh"], "title": "Language",
                             "description": "what the text is in"}
    assert props["speed"] == {"type": "number", "default": 1.0, "minimum": 0.5, "maximum": 2.0}
    assert props["beams"] == {"type": "integer", "minimum": 1, "maximum": 8}
    assert props["tag"] == {"type": "string", "minLength": 2, "maxLength": 5}
    assert props["punctuate"] == {"type": "boolean", "default": True}
    check = validator(doc, ocr)
    assert check.is_valid({"lang": "en", "speed": 2, "beams": 3, "punctuate": False})
    for wrong in ({"lang": "fr"}, {"lang": "en", "speed": 3}, {"lang": "en", "beams": 1.5},
                  {"lang": "en", "tag": "x"}, {"speed": 1}, {"lang": "en", "punctuate": "no"}):
        assert not check.is_valid(wrong), wrong


def test_declared_outputs_are_declarations_in_parameter_and_items_of_the_success_payload(
) -> None:
    doc = document([ability("ocr", FULL)])
    ocr = request_schema(doc, "/v2/private/ocr")["properties"]["parameter"]["properties"]["ocr"]
    result = ocr["properties"]["result"]["properties"]
    assert {k: v.get("default") for k, v in result.items()} == {
        "encoding": "utf8", "format": "json", "compress": "raw"}
    assert ocr["properties"]["mask"]["properties"]["encoding"]["default"] == "png"
    success = operation(doc, "/v2/private/ocr")["responses"]["200"]["content"][
        "application/json"]["schema"]
    outputs = success["properties"]["payload"]["properties"]
    assert outputs["result"]["required"] == ["text", "status"]
    assert "contentEncoding" not in outputs["result"]["properties"]["text"]  # text as text
    assert outputs["mask"]["properties"]["image"]["contentEncoding"] == "base64"
    check = validator(doc, success)
    sid = {"code": 0, "message": "success", "sid": "atn1", "status": 3}
    assert check.is_valid({"header": sid, "payload": {"result": {
        "encoding": "utf8", "seq": "0", "status": "3", "text": '{"a": 1}'}}})
    assert not check.is_valid({"header": sid, "payload": {"mask": {"status": "3",
                                                                   "text": "not an image"}}})
    assert not check.is_valid({"header": {**sid, "code": 10106}, "payload": {}})


def test_each_declared_input_carries_exactly_its_own_data_key_in_base64() -> None:
    doc = document([ability("ocr", FULL)])
    payload = request_schema(doc, "/v2/private/ocr")["properties"]["payload"]
    assert payload["required"] == ["doc", "photo"]
    assert payload["minProperties"] == 1
    kinds = {"doc": "text", "voice": "audio", "photo": "image", "clip": "video"}
    for name, kind in kinds.items():
        item = payload["properties"][name]
        assert item["required"] == [kind]
        assert item["properties"][kind]["contentEncoding"] == "base64"
        assert item["properties"]["status"]["enum"] == [0, 1, 2, 3]
        check = validator(doc, item)
        assert check.is_valid({kind: "aGVsbG8=", "status": 3, "sample_rate": 16000})
        assert not check.is_valid({kind: "not base64!"})
        assert not check.is_valid({kind: "aGVsbG8=", "status": 4})
        other = next(k for k in kinds.values() if k != kind)
        assert not check.is_valid({kind: "aGVsbG8=", other: "aGVsbG8="}), (kind, other)
        assert not check.is_valid({other: "aGVsbG8="})
    props = payload["properties"]
    assert props["doc"]["properties"]["format"]["default"] == "json"
    assert props["photo"]["properties"]["encoding"]["default"] == "jpg"
    assert props["clip"]["properties"]["compress"]["default"] == "raw"


def test_an_ability_without_a_schema_takes_any_inputs_and_any_params() -> None:
    doc = document([ability("plain")])
    schema = request_schema(doc, "/v2/private/plain")
    check = validator(doc, schema)
    assert check.is_valid({"parameter": {"plain": {"x": "1", "n": 2, "out": {"encoding": "png"}}},
                           "payload": {"a": {"image": "AAAA"}, "b": {"text": "aGk=",
                                                                      "status": 3}}})
    assert not check.is_valid({"payload": {}})  # at least one input
    assert not check.is_valid({"payload": {"a": {"encoding": "utf8"}}})  # no data key
    assert not check.is_valid({"payload": {"a": {"text": "aGk=", "audio": "aGk="}}})
    assert not check.is_valid({"parameter": {"other": {}}, "payload": {"a": {"text": "aGk="}}})
    assert not check.is_valid({"parameter": {"plain": {"x": [1]}},
                               "payload": {"a": {"text": "aGk="}}})
    assert "declares no schema" in operation(doc, "/v2/private/plain")["description"]


def test_an_unreadable_schema_is_documented_as_undeclared() -> None:
    broken = loader_pb2.Ability(service_id="odd", route="/v1/private/odd", schema_json="{no")
    assert openapi.read_schema(broken.schema_json) is None
    assert "declares no schema" in path_item(broken)["post"]["description"]


def test_every_error_of_the_table_is_a_response_with_the_error_body_and_its_codes() -> None:
    doc = document([ability("ocr", FULL)])
    responses = operation(doc, "/v2/private/ocr")["responses"]
    statuses = [400, 404, 405, 413, 429, 500, 502, 503, 504]
    assert sorted(int(s) for s in responses if s != "200") == statuses
    error = doc["components"]["schemas"]["Error"]
    assert error["properties"]["header"]["required"] == ["code", "message", "sid"]
    described = {str(s): doc["components"]["responses"][str(s)] for s in statuses}
    for status, codes in {"400": ["10000", "10001", "10163", "10107"], "404": ["10404"],
                          "413": ["10413"], "429": ["10110"],
                          "500": ["10909", "10106", "10500"], "502": ["10109"],
                          "503": ["10503"], "504": ["10102"]}.items():
        for code in codes:
            assert code in described[status]["description"], (status, code)
    assert set(described["429"]["headers"]) == set(described["503"]["headers"]) == {
        "Retry-After"}
    assert len(ERROR_TABLE) == len(statuses)


def test_the_example_request_is_valid_and_made_from_the_schema() -> None:
    doc = document([ability("ocr", FULL)])
    body = operation(doc, "/v2/private/ocr")["requestBody"]["content"]["application/json"]
    example = body["example"]
    assert example == example_request(ability("ocr", FULL))
    validator(doc, body["schema"]).validate(example)
    params = example["parameter"]["ocr"]
    # a declared default, else the enum's first, and the outputs asked for as declared
    assert params == {"lang": "en", "speed": 1.0, "punctuate": True,
                      "result": {"encoding": "utf8", "format": "json", "compress": "raw"},
                      "mask": {"encoding": "png"}}
    payload = example["payload"]
    assert json.loads(base64.b64decode(payload["doc"]["text"])) == {"text": "hello"}
    with Image.open(io.BytesIO(base64.b64decode(payload["photo"]["image"]))) as image:
        assert (image.format, image.size) == ("JPEG", (8, 8))  # declared jpg: a real JPEG
    assert payload["voice"]["encoding"] == "raw" and payload["voice"]["sample_rate"] == 16000
    assert set(payload) == {"doc", "voice", "photo", "clip"}


def test_an_undeclared_abilitys_example_sends_hello_as_text() -> None:
    example = example_request(ability("plain"))
    assert example["parameter"] == {"plain": {}}
    assert example["payload"] == {"text": {"encoding": "utf8", "status": 3,
                                           "text": base64.b64encode(b"hello").decode()}}


def test_an_image_input_without_a_declared_encoding_gets_a_tiny_valid_png() -> None:
    schema = {"inputs": {"img": {"type": "image", "required": True}}}
    example = example_request(ability("pic", schema))
    with Image.open(io.BytesIO(base64.b64decode(example["payload"]["img"]["image"]))) as image:
        assert image.format == "PNG"
    assert example["payload"]["img"]["encoding"] == "png"


def test_the_gateways_own_routes_are_documented_briefly() -> None:
    paths = document([])["paths"]
    assert set(paths) == {"/healthz", "/readyz", "/readyz/{serviceId}", "/v1/abilities",
                          "/metrics"}
    assert set(paths["/readyz"]["get"]["responses"]) == {"200", "503"}
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]


def test_an_ability_at_a_fixed_route_is_left_out_it_cannot_be_reached() -> None:
    odd = loader_pb2.Ability(service_id="odd", route="/healthz")
    assert "post" not in document([odd])["paths"]["/healthz"]


def test_path_items_are_made_once_per_ability_and_the_document_again_when_the_set_changes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []

    def counted(a: loader_pb2.Ability) -> JSON:
        made.append(a.service_id)
        return path_item(a)

    monkeypatch.setattr("gateway.docs.path_item", counted)
    served = [ability("ocr", FULL), ability("plain")]
    docs = Docs(lambda: served)
    first = docs.document()
    assert docs.document() is first and sorted(made) == ["ocr", "plain"]
    served.append(ability("third"))
    grown = json.loads(docs.document().raw)
    assert "/v2/private/third" in grown["paths"] and sorted(made) == ["ocr", "plain", "third"]
    served[0] = ability("ocr", FULL, wrapper_version="ocr 2.0")  # the same route, changed
    changed = json.loads(docs.document().raw)
    assert "ocr 2.0" in operation(changed, "/v2/private/ocr")["description"]
    assert made.count("ocr") == 2 and made.count("plain") == 1


@pytest.fixture
async def live() -> AsyncIterator[Gateway]:
    """The in-process gateway in front of in-process workers of echo, digits and faulty."""
    async with AsyncExitStack() as stack:
        workers = [await stack.enter_async_context(running_worker(str(w))) for w in WRAPPERS]
        yield await stack.enter_async_context(running_gateway([w.address for w in workers]))


async def get_json(gateway: Gateway, path: str) -> JSON:
    async with gateway.client.get(path) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "application/json"
        assert response.headers["Cache-Control"] == "no-cache"
        body: JSON = await response.json()
        return body


async def test_the_live_document_validates_with_a_path_per_ability(live: Gateway) -> None:
    doc = await get_json(live, "/openapi.json")
    validate(doc)
    routes = {a.route for a in live.upstreams.abilities()}
    assert routes == {"/v1/private/echo", "/v1/private/digits", "/v1/private/faulty"}
    assert {p for p in doc["paths"] if "post" in doc["paths"][p]} == routes
    assert doc == await get_json(live, "/openapi.json")


async def test_each_working_example_posted_to_the_live_gateway_succeeds(live: Gateway) -> None:
    """echo and faulty (its default mode is ok) answer their examples; digits needs an image,
    which a wrapper without a schema cannot say, so its generic example is not sent."""
    doc = await get_json(live, "/openapi.json")
    for route in ("/v1/private/echo", "/v1/private/faulty"):
        body = operation(doc, route)["requestBody"]["content"]["application/json"]
        async with live.client.post(route, json=body["example"]) as response:
            answer = await response.json()
            assert response.status == 200, answer
        success = operation(doc, route)["responses"]["200"]["content"]["application/json"]
        validator(doc, success["schema"]).validate(answer)
        if route.endswith("echo"):
            assert answer["payload"]["text"]["text"] == "hello"


async def test_the_docs_page_is_served_with_its_assets_from_the_gateway(live: Gateway) -> None:
    async with live.client.get("/docs") as response:
        page = await response.text()
        assert response.status == 200 and response.content_type == "text/html"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-cache"
    assert "://" not in page  # every URL is relative: no CDN
    for name, kind in (("swagger-ui-bundle.js", "text/javascript"),
                       ("swagger-ui.css", "text/css"), ("athena-docs.js", "text/javascript")):
        start = page.index(f"docs/{name}?v=")
        url = "/" + page[start:page.index('"', start)]
        async with live.client.get(url, headers={"Accept-Encoding": "identity"}) as response:
            raw = await response.read()
            assert response.status == 200 and response.content_type == kind
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            etag = response.headers["ETag"]
        async with live.client.get(url, headers={"If-None-Match": etag}) as response:
            assert response.status == 304
        async with live.client.get(url.split("?")[0], auto_decompress=False,
                                   headers={"Accept-Encoding": "gzip"}) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert response.headers["Cache-Control"] == "no-cache"  # unversioned: revalidate
            assert gzip.decompress(await response.read()) == raw
    async with live.client.get("/docs/LICENSE") as response:
        assert "Apache License" in await response.text()


async def test_docs_routes_are_labelled_in_metrics_and_other_routes_still_behave(
        live: Gateway) -> None:
    for path in ("/docs", "/docs/swagger-ui.css", "/openapi.json"):
        async with live.client.get(path) as response:
            assert response.status == 200
    async with live.client.get("/docs/", allow_redirects=False) as response:
        assert response.status == 301 and response.headers["Location"] == "../docs"
    async with live.client.get("/docs/missing.js") as response:
        assert response.status == 404
        assert (await response.json())["header"]["code"] == 10404
    async with live.client.post("/openapi.json") as response:
        assert response.status == 404  # as POST /healthz: the catch-all finds no ability there
    async with live.client.get("/v1/private/echo") as response:
        assert response.status == 405  # ability routes unchanged
    sample = live.metrics.registry.get_sample_value
    for route in ("/docs", "/docs/swagger-ui.css", "/openapi.json", "/docs/"):
        assert sample("athena_gateway_http_requests_total",
                      {"route": route, "method": "GET", "code": "200" if route != "/docs/"
                       else "301"}) == 1, route


def test_the_vendored_swagger_ui_files_are_the_ones_their_readme_names() -> None:
    assets = ROOT / "gateway" / "docs_assets"
    listed = [line.split() for line in (assets / "README.md").read_text().splitlines()
              if len(line.split()) == 2 and len(line.split()[0]) == 64]
    assert {name for _, name in listed} == {"swagger-ui-bundle.js", "swagger-ui.css",
                                            "favicon-32x32.png"}
    for digest, name in listed:
        assert hashlib.sha256((assets / name).read_bytes()).hexdigest() == digest, name
    assert "Apache License" in (assets / "LICENSE").read_text()
