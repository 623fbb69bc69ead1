"""Writes hello.png beside this file: known text drawn with Pillow, the OCR ability's example.

    python wrappers/ocr/test_data/make_image.py

The tests import `render` to draw the same text and compare what Tesseract reads with where
each word was drawn.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import NamedTuple

from PIL import Image, ImageDraw, ImageFont

__all__ = ["LINES", "Drawn", "font", "render"]

LINES = ("HELLO WORLD", "Athena Mesh 2026")
# Debian's fonts-dejavu-core; Pillow's own scalable font (Pillow >= 10.1) where it is missing
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
SIZE = (640, 220)
MARGIN, LINE_STEP, FONT_PX = 40, 80, 44


class Drawn(NamedTuple):
    text: str
    box: tuple[int, int, int, int]  # left, top, right, bottom of its ink, in pixels


def font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if FONT.is_file():
        return ImageFont.truetype(str(FONT), FONT_PX)
    return ImageFont.load_default(size=FONT_PX)


def render(lines: tuple[str, ...] = LINES) -> tuple[bytes, list[Drawn]]:
    """Black text on white, one word at a time: the PNG's bytes and each word's ink box."""
    image = Image.new("L", SIZE, 255)
    pen = ImageDraw.Draw(image)
    face = font()
    words: list[Drawn] = []
    for row, line in enumerate(lines):
        x, y = float(MARGIN), MARGIN + row * LINE_STEP
        for word in line.split():
            left, top, right, bottom = pen.textbbox((x, y), word, font=face)
            pen.text((x, y), word, font=face, fill=0)
            words.append(Drawn(word, (int(left), int(top), int(right), int(bottom))))
            x += pen.textlength(word + " ", font=face)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue(), words


if __name__ == "__main__":
    target = Path(__file__).with_name("hello.png")
    target.write_bytes(render()[0])
    print(f"wrote {target}")
