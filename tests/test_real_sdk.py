"""With the real aiges SDK installed, it wins over athena's stand-in (loader/compat/aiges).

The SDK goes into a clean venv of its own (never the project's): `aiges==0.16.0` without its
declared dependencies (gradio, grpc, plumbum: its server and CLI), plus what its `aiges.sdk`,
`aiges.dto` and `aiges.utils.log` import when loaded: jinja2, pydantic, jsonref and flask-restx
(which brings Flask; aiges.sdk imports it through aiges.schema). ATHENA_REAL_SDK_VENV may name
a venv that already has them; otherwise the venv is built here (about 15 s), and the test is
skipped only when pip cannot reach the package index.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import ABILITIES, ROOT

REAL_SDK = "aiges==0.16.0"
RUNTIME_IMPORTS = ("jinja2", "pydantic", "jsonref", "flask-restx")
# what pip prints when the index cannot be reached (as opposed to a package it cannot install)
_UNREACHABLE = ("NewConnectionError", "Network is unreachable", "Temporary failure in name",
                "Name or service not known", "Could not fetch URL", "ConnectTimeout",
                "ReadTimeout", "ProxyError")

PROBE = textwrap.dedent("""
    import importlib.util, json, os, sys
    root, wrapper = sys.argv[1], sys.argv[2]
    sys.path.insert(0, root)
    from loader.compat import AigesFallbackFinder, install_aiges_fallback
    ours = install_aiges_fallback()
    import aiges, aiges.dto, aiges.sdk, aiges.utils.log
    spec = importlib.util.spec_from_file_location("sdk_style_wrapper", wrapper)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    w = module.Wrapper()
    w.wrapperInit({})
    node = aiges.dto.DataListNode()
    node.key, node.data, node.len, node.type = "text", b"real", 4, 0
    req = aiges.dto.DataListCls()
    req.list = [node]
    out = w.wrapperOnceExec({"mode": "upper"}, req)
    print(json.dumps({
        "ours": ours,
        "finder_last": isinstance(sys.meta_path[-1], AigesFallbackFinder),
        "files": [m.__file__ for m in (aiges, aiges.sdk, aiges.dto, aiges.utils.log)],
        "base_module": type(w).__mro__[1].__module__,
        "result": json.loads(out.list[0].data),
    }))
""")


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--timeout", "20",
                           "--retries", "1", *args], capture_output=True, text=True)
    if done.returncode == 0:
        return
    output = done.stdout + done.stderr
    if any(sign in output for sign in _UNREACHABLE):
        pytest.skip(f"the package index is unreachable, so {REAL_SDK} cannot be installed: "
                    f"{output.strip().splitlines()[-1]}")
    pytest.fail(f"pip install {' '.join(args)} failed:\n{output}")


@pytest.fixture(scope="module")
def real_sdk_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    named = os.environ.get("ATHENA_REAL_SDK_VENV")
    if named:
        return Path(named) / "bin" / "python"
    venv = tmp_path_factory.mktemp("real-sdk") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    _pip(python, "--no-deps", REAL_SDK)
    _pip(python, *RUNTIME_IMPORTS)
    return python


def test_an_installed_real_sdk_wins_over_ours_and_runs_an_sdk_style_wrapper(
        real_sdk_python: Path) -> None:
    folder = ABILITIES / "sdk_style"
    done = subprocess.run(
        [str(real_sdk_python), "-c", PROBE, str(ROOT), str(folder / "wrapper.py")],
        cwd=folder, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])  # the SDK prints lines of its own
    site = Path(real_sdk_python).parent.parent
    assert report["ours"] is False and report["finder_last"] is True
    for file in report["files"]:
        assert Path(file).is_relative_to(site) and "loader/compat" not in file
    assert report["base_module"] == "aiges.sdk"
    assert report["result"] == {"text": "REAL", "image_bytes": 0, "image_is_png": False}
