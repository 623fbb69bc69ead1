"""Calls the ocr ability over HTTP and prints each region it read: box, box score, text score, text.

    python wrappers/ocr/demo.py IMAGE [--url http://127.0.0.1:8080/v1/private/ocr]
                                      [--lang eng] [--level line|word] [--min-score 0]

Standard library only: the picture goes out as AIGES JSON (base64 in payload.image), the
regions come back as JSON text in payload.result.text. One line per region:

    box: [44, 48, 361, 48, 361, 81, 44, 81] box_score: 0.9500 text_score: 0.9550 text: HELLO WORLD
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

URL = "http://127.0.0.1:8080/v1/private/ocr"


def request_body(image: bytes, encoding: str, params: dict[str, str]) -> dict[str, Any]:
    return {
        "header": {"app_id": "demo", "status": 3},
        "parameter": {"ocr": {**params,
                              "result": {"encoding": "utf8", "compress": "raw", "format": "json"}}},
        "payload": {"image": {"encoding": encoding, "status": 3,
                              "image": base64.b64encode(image).decode("ascii")}},
    }


def call(url: str, body: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """The AIGES answer; error answers (4xx/5xx) carry their JSON too."""
    post = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                  headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(post, timeout=timeout) as response:
            answer: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as error:
        answer = json.load(error)
    return answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path, help="a PNG or JPEG file")
    parser.add_argument("--url", default=URL)
    parser.add_argument("--lang", help="Tesseract language (default: the ability's, eng)")
    parser.add_argument("--level", choices=("line", "word"))
    parser.add_argument("--min-score", help="leave out regions with a lower text score (0..1)")
    args = parser.parse_args(argv)
    encoding = "jpg" if args.image.suffix.lower() in (".jpg", ".jpeg") else "png"
    params = {key: str(value) for key, value in
              (("lang", args.lang), ("level", args.level), ("min_score", args.min_score))
              if value is not None}
    answer = call(args.url, request_body(args.image.read_bytes(), encoding, params))
    header = answer.get("header", {})
    if header.get("code") != 0:
        print(f"error {header.get('code')}: {header.get('message')}", file=sys.stderr)
        return 1
    for region in json.loads(answer["payload"]["result"]["text"])["regions"]:
        print(f"box: {region['box']} box_score: {region['box_score']:.4f} "
              f"text_score: {region['text_score']:.4f} text: {region['text']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
