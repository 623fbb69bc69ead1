"""wrappers/digits: a real scikit-learn model reading digits from PNG and JPEG images."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sklearn.datasets import load_digits

from .abilities import DATA_ONCE, load_ability, make_request

DATA_TEXT, DATA_IMAGE = 0, 2
HOLDOUT = 300  # the dataset's last samples, kept out of training so accuracy is honest


@pytest.fixture(scope="module")
def digits_module() -> ModuleType:
    return load_ability("digits")


@pytest.fixture(scope="module")
def digits(digits_module: ModuleType) -> Iterator[Any]:
    wrapper = digits_module.Wrapper()
    assert wrapper.wrapperInit({"train_holdout": str(HOLDOUT)}) == 0
    yield wrapper
    assert wrapper.wrapperFini() == 0


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _render(cells: np.ndarray, fmt: str, dark_ink: bool) -> bytes:
    """A dataset digit (8x8, 0..16) as a 64x64 picture, the way a scan or a canvas would be."""
    pixels = (cells * (255 / 16)).astype(np.uint8)
    if dark_ink:
        pixels = 255 - pixels
    image = Image.fromarray(pixels).resize((64, 64), Image.Resampling.BILINEAR)
    return _encode(image, fmt)


def _draw(shape: str) -> bytes:
    """A digit drawn from scratch: black pen on white paper, in a corner of a large page."""
    image = Image.new("RGB", (300, 240), "white")
    pen = ImageDraw.Draw(image)
    if shape == "0":
        pen.ellipse((40, 30, 120, 170), outline="black", width=14)
    else:
        pen.line((100, 20, 100, 180), fill="black", width=14)
        pen.line((100, 20, 75, 50), fill="black", width=12)
    return _encode(image, "PNG")


def _classify(digits: Any, image: bytes, encoding: str = "png") -> Any:
    request = make_request(("image", image, DATA_IMAGE, {"encoding": encoding}))
    return digits.wrapperOnceExec({"sid": "s1"}, request, "", 0)


def test_class_attributes_name_the_route(digits_module: ModuleType) -> None:
    assert (digits_module.Wrapper.serviceId, digits_module.Wrapper.version) == ("digits", "v1")


def test_unseen_dataset_digits_are_read_with_at_least_90_percent_accuracy(digits: Any) -> None:
    dataset = load_digits()
    samples = range(len(dataset.images) - HOLDOUT, len(dataset.images), 3)
    correct = 0
    for n, index in enumerate(samples):
        fmt = ("PNG", "JPEG")[n % 2]
        image = _render(dataset.images[index], fmt, dark_ink=n % 4 >= 2)
        answer = json.loads(bytes(_classify(digits, image, fmt.lower()).list[0].data))
        correct += answer["digit"] == dataset.target[index]

    assert correct / len(samples) >= 0.9, f"{correct} of {len(samples)} read correctly"


@pytest.mark.parametrize("shape", ["0", "1"])
def test_a_digit_drawn_with_a_pen_is_read(digits: Any, shape: str) -> None:
    answer = json.loads(bytes(_classify(digits, _draw(shape)).list[0].data))

    assert answer["digit"] == int(shape)


def test_black_ink_on_a_transparent_png_is_read_as_on_white_paper(digits: Any) -> None:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))  # transparent black, like a canvas
    pen = ImageDraw.Draw(image)
    pen.line((50, 10, 50, 90), fill=(0, 0, 0, 255), width=8)
    pen.line((50, 10, 35, 30), fill=(0, 0, 0, 255), width=7)

    answer = json.loads(bytes(_classify(digits, _encode(image, "PNG")).list[0].data))

    assert answer["digit"] == 1


def test_result_is_json_text_with_digit_confidence_and_ten_probabilities(digits: Any) -> None:
    response = _classify(digits, _draw("0"))

    assert response.error_code == 0
    [result] = response.list
    assert (result.key, result.type, result.status) == ("result", DATA_TEXT, DATA_ONCE)
    assert dict(result.desc) == {"encoding": "utf8", "format": "json"}
    answer = json.loads(bytes(result.data))
    assert len(answer["probabilities"]) == 10
    assert sum(answer["probabilities"]) == pytest.approx(1.0, abs=1e-3)
    assert answer["confidence"] == max(answer["probabilities"])
    assert answer["probabilities"].index(answer["confidence"]) == answer["digit"]


def test_bytes_that_are_no_image_return_code_11001_with_a_message(digits: Any) -> None:
    response = _classify(digits, b"GIF89a but not really an image")

    assert response.error_code == 11001
    assert digits.wrapperError(11001).startswith("image input is not a PNG/JPEG Pillow can decode")


def test_truncated_jpeg_returns_code_11001(digits: Any) -> None:
    jpeg = _encode(Image.new("L", (64, 64), 255), "JPEG")

    assert _classify(digits, jpeg[: len(jpeg) // 2], "jpg").error_code == 11001


def test_request_without_image_input_returns_code_11002(digits: Any) -> None:
    response = digits.wrapperOnceExec({}, make_request(("img", b"x", DATA_IMAGE, {})), "", 0)

    assert response.error_code == 11002
    assert "'image'" in digits.wrapperError(11002)


def test_image_over_the_pixel_limit_returns_code_11003(digits_module: ModuleType) -> None:
    small_limit = digits_module.Wrapper()
    assert small_limit.wrapperInit({"image_max_pixels": "1000", "train_holdout": "0"}) == 0

    response = _classify(small_limit, _draw("1"))

    assert response.error_code == 11003
    assert "image_max_pixels" in small_limit.wrapperError(11003)


def test_blank_page_returns_code_11004(digits: Any) -> None:
    blank = _encode(Image.new("L", (64, 64), 240), "PNG")

    assert _classify(digits, blank).error_code == 11004


def test_config_value_that_is_not_a_number_fails_init_with_code_11005(
    digits_module: ModuleType,
) -> None:
    wrapper = digits_module.Wrapper()

    assert wrapper.wrapperInit({"model_gamma": "fast"}) == 11005
    assert "model_gamma" in wrapper.wrapperError(11005)
