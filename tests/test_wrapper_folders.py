"""Wrapper folders as AIGES lays them out, through real `athena serve` processes started from
another working directory: files relative to the wrapper's folder, and ability identity."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.support import ABILITIES, ATHENA, aiges_body, b64, serve, text_item


def test_a_wrapper_opening_files_relative_to_its_folder_works_from_any_directory(
        tmp_path: Path) -> None:
    with serve(tmp_path, [ABILITIES / "relative_files" / "wrapper.py"]) as stack:
        response = httpx.post(f"{stack.base}/v1/private/relative_files", timeout=30,
                              json=aiges_body("relative_files", {"text": text_item("x")}))
    assert response.status_code == 200, response.text
    assert response.json()["payload"]["result"]["text"] == "cat:1234"


def test_two_wrappers_claiming_one_service_id_are_refused_at_start_naming_both(
        tmp_path: Path) -> None:
    first, second = (ABILITIES / f"template_{n}" / "wrapper.py" for n in "ab")
    done = subprocess.run([ATHENA, "serve", str(first), str(second), "--port", "0",
                           "--grpc-port", "0"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "'mmocr'" in done.stderr
    assert str(first) in done.stderr and str(second) in done.stderr
    assert "service_id" in done.stderr


def test_sdk_style_wrappers_serve_and_refuse_calls_their_schema_rules_out(
        tmp_path: Path) -> None:
    """`from aiges.sdk import ...` with only this project installed; the declared schema checked
    before the wrapper runs, each refusal naming what is wrong."""
    wrappers = [ABILITIES / "sdk_required" / "wrapper.py", ABILITIES / "sdk_style" / "wrapper.py"]
    image = {"data": {"encoding": "png", "status": 3, "image": b64(b"\x89PNG-ish")}}
    with serve(tmp_path, wrappers) as stack:
        def post(payload: dict[str, Any], **params: str) -> httpx.Response:
            return httpx.post(f"{stack.base}/v1/private/sdk_required", timeout=30,
                              json=aiges_body("sdk_required", payload, params))

        good = post(image, mode="accurate")
        missing = post({"img": image["data"]})
        bad_enum = post(image, mode="slow")
        styled = httpx.post(f"{stack.base}/v1/private/sdk_style", timeout=30,
                            json=aiges_body("sdk_style", {"text": text_item("hi")}))
    assert good.status_code == 200, good.text
    assert good.json()["payload"]["result"]["text"] == "data:8:accurate"
    assert missing.status_code == 400, missing.text
    assert missing.json()["header"]["code"] == 10001
    assert "'data'" in missing.json()["header"]["message"]
    assert bad_enum.status_code == 400 and bad_enum.json()["header"]["code"] == 10107
    assert "'mode'" in bad_enum.json()["header"]["message"]
    assert styled.status_code == 200, styled.text
    assert json.loads(styled.json()["payload"]["result"]["text"])["text"] == "HI"


def test_every_wrapper_shape_serves_from_another_directory(tmp_path: Path) -> None:
    """Old `aiges.types` imports with positional fields (reverse defaults to true), str-valued
    fields, and a v1 function wrapper without wrapperInit: each served by one `athena serve`,
    each call as the wrapper intends."""
    shapes = {"old_types_import": ({"text": text_item("abc")}, {"sep": "+"}, "c+b+a"),
              "str_valued_fields": ({"name": text_item("Ada")}, {}, "hello Ada!"),
              "v1_no_init": ({"text": text_item("hi")}, {}, "no-init:hi")}
    with serve(tmp_path, [ABILITIES / name / "wrapper.py" for name in shapes]) as stack:
        for name, (payload, params, expected) in shapes.items():
            response = httpx.post(f"{stack.base}/v1/private/{name}", timeout=30,
                                  json=aiges_body(name, payload, params))
            assert response.status_code == 200, (name, response.text)
            assert response.json()["payload"]["result"]["text"] == expected, name
