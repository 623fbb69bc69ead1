"""Wrapper folders as AIGES lays them out, through real `athena serve` processes started from
another working directory: files relative to the wrapper's folder, and ability identity."""
from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.support import ABILITIES, ATHENA, aiges_body, serve, text_item


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
