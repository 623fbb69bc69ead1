"""wrappers/ocr: Tesseract reading text that Pillow drew, with boxes where it was drawn.

The wrapper is driven directly (requests built as the loader builds them, the image a
read-only view) and through a real `athena serve`, over HTTP and with demo.py. The text is
drawn by wrappers/ocr/test_data/make_image.py, which also wrote the shipped hello.png.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from loader.errors import WrapperLoadError
from loader.plugin import Plugin
from loader.schema import Schema
from tests.support import ATHENA, Stack, serve

from .abilities import DATA_ONCE, load_ability, make_request

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "wrappers" / "ocr"
WRAPPER = FOLDER / "wrapper.py"
DATA_TEXT, DATA_IMAGE = 0, 2
PACKAGES = "apt-get install tesseract-ocr tesseract-ocr-eng"
SLACK = 6  # pixels Tesseract's box may differ from Pillow's ink box by, on each side

drawing = load_ability("ocr", "test_data/make_image.py")
LINES: tuple[str, ...] = drawing.LINES


@pytest.fixture(scope="module")
def plugin() -> Iterator[Plugin]:
    loaded = Plugin.load(str(WRAPPER))
    loaded.init({})
    yield loaded
    loaded.fini()


@pytest.fixture(scope="module")
def ocr(plugin: Plugin) -> Any:
    return plugin.target


@pytest.fixture(scope="module")
def drawn() -> tuple[bytes, list[Any]]:
    png, words = drawing.render()
    return png, words


def _call(ocr: Any, image: bytes, **params: str) -> Any:
    request = make_request(("image", image, DATA_IMAGE, {"encoding": "png"}))
    return ocr.wrapperOnceExec({"sid": "s1", **params}, request, "", 0)


def _regions(ocr: Any, image: bytes, **params: str) -> list[dict[str, Any]]:
    response = _call(ocr, image, **params)
    assert response.error_code == 0, ocr.wrapperError(response.error_code)
    regions: list[dict[str, Any]] = json.loads(bytes(response.list[0].data))["regions"]
    return regions


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def test_class_declares_route_and_schema_with_installed_languages(ocr: Any) -> None:
    assert (ocr.serviceId, ocr.version) == ("ocr", "v1")
    schema = Schema.of(ocr)
    assert schema is not None
    assert "eng" in schema.params["lang"]["enum"] and "osd" not in schema.params["lang"]["enum"]
    assert schema.params["level"]["enum"] == ["line", "word"]
    assert schema.params["level"]["default"] == "line"
    assert schema.inputs["image"]["type"] == "image" and schema.inputs["image"]["required"]
    assert schema.outputs["result"]["format"] == "json"


def test_each_drawn_line_comes_back_as_one_region_with_its_text(
        ocr: Any, drawn: tuple[bytes, list[Any]]) -> None:
    regions = _regions(ocr, drawn[0])

    assert [region["text"] for region in regions] == list(LINES)


def test_result_is_json_text_of_regions_with_eight_number_boxes_and_scores(
        ocr: Any, drawn: tuple[bytes, list[Any]]) -> None:
    [result] = _call(ocr, drawn[0]).list

    assert (result.key, result.type, result.status) == ("result", DATA_TEXT, DATA_ONCE)
    assert dict(result.desc) == {"encoding": "utf8", "format": "json"}
    for region in json.loads(bytes(result.data))["regions"]:
        assert set(region) == {"box", "box_score", "text_score", "text"}
        assert len(region["box"]) == 8 and all(isinstance(n, int) for n in region["box"])
        assert 0 <= region["box_score"] <= region["text_score"] <= 1
        assert region["text_score"] > 0.8  # clean black-on-white print


def test_each_word_has_a_clockwise_box_around_where_it_was_drawn(
        ocr: Any, drawn: tuple[bytes, list[Any]]) -> None:
    png, words = drawn
    width, height = Image.open(io.BytesIO(png)).size

    regions = _regions(ocr, png, level="word")

    assert [region["text"] for region in regions] == [word.text for word in words]
    for region, word in zip(regions, words, strict=True):
        x1, y1, x2, y2, x3, y3, x4, y4 = region["box"]
        assert (x2, y2, x3, y4) == (x3, y1, x2, y3) and x4 == x1  # TL, TR, BR, BL corners
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y3 <= height
        left, top, right, bottom = word.box
        for got, want in ((x1, left), (y1, top), (x2, right), (y3, bottom)):
            assert abs(got - want) <= SLACK, f"{word.text}: box {region['box']} vs ink {word.box}"
        assert region["box_score"] == region["text_score"]


def test_a_line_scores_the_mean_of_its_words_and_boxes_the_lowest(
        ocr: Any, drawn: tuple[bytes, list[Any]]) -> None:
    words = _regions(ocr, drawn[0], level="word")
    lines = _regions(ocr, drawn[0], level="line")

    hello = words[:2]  # HELLO, WORLD
    mean = sum(word["text_score"] for word in hello) / 2
    assert lines[0]["text_score"] == pytest.approx(mean, abs=1e-4)
    assert lines[0]["box_score"] == min(word["text_score"] for word in hello)
    assert lines[0]["box"][:2] == hello[0]["box"][:2]
    assert lines[0]["box"][4:6] == hello[1]["box"][4:6]


def test_min_score_leaves_out_the_regions_scored_below_it(
        ocr: Any, drawn: tuple[bytes, list[Any]]) -> None:
    every = _regions(ocr, drawn[0], level="word")
    threshold = sorted(region["text_score"] for region in every)[len(every) // 2]

    kept = _regions(ocr, drawn[0], level="word", min_score=str(threshold))

    assert kept == [region for region in every if region["text_score"] >= threshold]
    assert _regions(ocr, drawn[0], min_score="1") == [
        region for region in _regions(ocr, drawn[0]) if region["text_score"] >= 1]


def test_shipped_test_image_is_what_make_image_draws(ocr: Any) -> None:
    shipped = (FOLDER / "test_data" / "hello.png").read_bytes()

    assert [region["text"] for region in _regions(ocr, shipped)] == list(LINES)


def test_jpeg_and_black_text_on_a_transparent_png_are_read(ocr: Any) -> None:
    page = Image.open(io.BytesIO(drawing.render()[0])).convert("RGB")
    jpeg = _encode(page, "JPEG")
    clear = Image.new("RGBA", (420, 100), (0, 0, 0, 0))  # transparent black, like a canvas
    ImageDraw.Draw(clear).text((20, 20), "HELLO WORLD", fill=(0, 0, 0, 255),
                               font=drawing.font())

    assert [region["text"] for region in _regions(ocr, jpeg)] == list(LINES)
    assert [region["text"] for region in _regions(ocr, _encode(clear, "PNG"))] == ["HELLO WORLD"]


def test_a_blank_page_has_no_regions(ocr: Any) -> None:
    assert _regions(ocr, _encode(Image.new("L", (200, 100), 255), "PNG")) == []


@pytest.mark.parametrize("data", [b"GIF89a but not really an image", b"",
                                  drawing.render()[0][:300]], ids=["text", "empty", "truncated"])
def test_bytes_that_are_no_image_return_code_15001_with_a_message(ocr: Any, data: bytes) -> None:
    assert _call(ocr, data).error_code == 15001
    assert ocr.wrapperError(15001).startswith("image cannot be decoded: send PNG or JPEG bytes")


def test_request_without_image_input_returns_code_15002(ocr: Any) -> None:
    response = ocr.wrapperOnceExec({}, make_request(("img", b"x", DATA_IMAGE, {})), "", 0)

    assert response.error_code == 15002
    assert "'image'" in ocr.wrapperError(15002)


@pytest.mark.parametrize("params", [{"lang": "klingon"}, {"level": "page"},
                                    {"min_score": "high"}, {"min_score": "2"}])
def test_a_bad_parameter_returns_code_15006(ocr: Any, drawn: tuple[bytes, list[Any]],
                                            params: dict[str, str]) -> None:
    assert _call(ocr, drawn[0], **params).error_code == 15006
    assert "level 'line' or 'word'" in ocr.wrapperError(15006)


def test_image_over_the_pixel_limit_returns_15003_and_a_slow_one_15004(
        ocr: Any, drawn: tuple[bytes, list[Any]]) -> None:
    wrapper = type(ocr)()
    assert wrapper.wrapperInit({"image_max_pixels": "1000", "timeout_s": "0.001"}) == 0
    assert _call(wrapper, drawn[0]).error_code == 15003

    tiny = _encode(Image.open(io.BytesIO(drawn[0])).resize((40, 20)), "PNG")
    assert _call(wrapper, tiny).error_code == 15004
    assert "timeout_s" in wrapper.wrapperError(15004)


def test_a_bad_config_value_fails_init_with_15007(ocr: Any) -> None:
    assert type(ocr)().wrapperInit({"timeout_s": "soon"}) == 15007


def test_missing_tesseract_fails_init_naming_the_debian_packages(ocr: Any) -> None:
    missing = {"tesseract_cmd": "/nonexistent/tesseract"}
    assert type(ocr)().wrapperInit(missing) == 15005

    with pytest.raises(WrapperLoadError) as refused:
        Plugin.load(str(WRAPPER)).init(missing)
    assert "15005" in str(refused.value) and PACKAGES in str(refused.value)


def test_serve_refuses_to_start_without_tesseract_and_names_the_packages(tmp_path: Path) -> None:
    config = tmp_path / "aiges.toml"
    config.write_text('[wrapper]\ntesseract_cmd = "/nonexistent/tesseract"\n')
    done = subprocess.run([ATHENA, "serve", str(WRAPPER), "--config", str(config), "--port", "0",
                           "--grpc-port", "0"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)

    assert done.returncode != 0
    assert PACKAGES in done.stdout + done.stderr


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve(tmp_path_factory.mktemp("ocr"), [WRAPPER]) as running:
        yield running


def test_http_call_returns_the_regions_as_json_text(stack: Stack,
                                                    drawn: tuple[bytes, list[Any]]) -> None:
    demo = load_ability("ocr", "demo.py")
    body = demo.request_body(drawn[0], "png", {"level": "line"})

    response = httpx.post(f"{stack.base}/v1/private/ocr", json=body, timeout=60)

    assert response.status_code == 200, response.text
    result = response.json()["payload"]["result"]
    assert result["format"] == "json"
    assert [region["text"] for region in json.loads(result["text"])["regions"]] == list(LINES)


def test_demo_prints_box_scores_and_text_of_each_line(stack: Stack) -> None:
    done = subprocess.run([sys.executable, str(FOLDER / "demo.py"),
                           str(FOLDER / "test_data" / "hello.png"),
                           "--url", f"{stack.base}/v1/private/ocr"],
                          capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    assert len(printed) == len(LINES), done.stdout
    box = r"\[" + ", ".join([r"\d+"] * 8) + r"\]"
    for line, text in zip(printed, LINES, strict=True):
        assert re.fullmatch(rf"box: {box} box_score: [01]\.\d{{4}} text_score: [01]\.\d{{4}} "
                            rf"text: {text}", line), line


def test_http_call_with_a_bad_image_or_language_names_the_problem(stack: Stack) -> None:
    demo = load_ability("ocr", "demo.py")
    url = f"{stack.base}/v1/private/ocr"

    bad_image = httpx.post(url, json=demo.request_body(b"not an image", "png", {}), timeout=60)
    bad_lang = httpx.post(url, json=demo.request_body(drawing.render()[0], "png",
                                                      {"lang": "klingon"}), timeout=60)

    assert bad_image.status_code == 500
    assert bad_image.json()["header"]["code"] == 15001
    assert bad_image.json()["header"]["message"].startswith("image cannot be decoded")
    assert bad_lang.status_code == 400
    assert bad_lang.json()["header"]["code"] == 10107
    assert "'lang'" in bad_lang.json()["header"]["message"]
