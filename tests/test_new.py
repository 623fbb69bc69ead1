"""`athena new NAME`: the wrapper folder it writes, what it refuses, and that the folder is
served by `athena serve` and passes its own test as it stands."""
from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gateway.scaffold import TEMPLATES
from tests.support import ATHENA, ROOT, serve

FILES = {"wrapper.py", "aiges.toml", "requirements.txt", "README.md", "test_wrapper.py",
         "test_data/hello.txt"}


def athena(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATHENA, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_new_writes_an_sdk_style_wrapper_folder_named_after_the_ability(tmp_path: Path) -> None:
    result = athena("new", "greeter", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "greeter"
    assert files_under(folder) == FILES
    assert f"athena serve {folder}/wrapper.py" in result.stdout

    wrapper = (folder / "wrapper.py").read_text()
    assert 'serviceId = "greeter"' in wrapper and 'version = "v1"' in wrapper
    assert "from aiges.sdk import StringBodyField, StringParamField, WrapperBase" in wrapper
    assert "from aiges.dto import DataListCls, Response, ResponseData" in wrapper
    assert "from aiges.utils.log import log" in wrapper
    assert 'StringBodyField(key="text", value=b"hello world")' in wrapper  # bytes: SDK 0.16
    assert 'StringBodyField(key="result", format="json")' in wrapper
    for method in ("wrapperInit", "wrapperOnceExec", "wrapperError", "wrapperFini"):
        assert f"def {method}(self" in wrapper
    for name in ("wrapper.py", "test_wrapper.py"):
        compile((folder / name).read_text(), name, "exec")

    config = tomllib.loads((folder / "aiges.toml").read_text())
    assert config["fc"]["max"] == 4 and config["wrapper"]["max_chars"] == 10000
    assert (folder / "test_data/hello.txt").read_bytes() == b"hello world"
    readme = (folder / "README.md").read_text()
    assert "athena call http://127.0.0.1:8080/v1/private/greeter" in readme
    assert "curl -s http://127.0.0.1:8080/v1/private/greeter" in readme
    for name in FILES:
        assert "{{" not in (folder / name).read_text(), name


def test_new_writes_into_an_empty_folder_and_the_current_one_by_default(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert athena("new", "empty", "--dir", str(tmp_path)).returncode == 0
    assert files_under(tmp_path / "empty") == FILES
    here = athena("new", "here-too", cwd=tmp_path)
    assert here.returncode == 0, here.stderr
    assert files_under(tmp_path / "here-too") == FILES
    assert "athena serve here-too/wrapper.py" in here.stdout


def test_new_refuses_a_folder_that_is_not_empty_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "wrapper.py").write_text("mine")
    result = athena("new", "taken", "--dir", str(tmp_path))
    assert result.returncode == 2
    assert f"athena new: {folder} already exists and is not empty: nothing was written" \
        in result.stderr
    assert files_under(folder) == {"wrapper.py"}
    assert (folder / "wrapper.py").read_text() == "mine"


@pytest.mark.parametrize("name", ["9lives", "two words", "../escape", "naïve", "a.b", "-x"])
def test_new_refuses_a_name_that_is_not_a_service_id(tmp_path: Path, name: str) -> None:
    result = athena("new", "--dir", str(tmp_path), "--", name)
    assert result.returncode == 2
    assert f"athena new: {name!r} is not a valid ability name" in result.stderr
    assert "letters, digits, '_' and '-'" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_templates_are_package_data_not_modules() -> None:
    # the wheel ships every file in the gateway package (scikit-build-core wheel.packages);
    # .tpl keeps the templates out of ruff, mypy and pytest collection
    names = {p.name for p in TEMPLATES.rglob("*") if p.is_file()}
    assert names == {"wrapper.py.tpl", "aiges.toml.tpl", "requirements.txt.tpl",
                     "README.md.tpl", "test_wrapper.py.tpl", "hello.txt"}


def test_the_new_folder_serves_as_written_and_passes_its_own_test(tmp_path: Path) -> None:
    assert athena("new", "greeter", "--dir", str(tmp_path)).returncode == 0
    folder = tmp_path / "greeter"
    # its own test, run the way its README says, from the folder's parent
    own = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "greeter"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert own.returncode == 0, own.stdout + own.stderr
    assert "2 passed" in own.stdout

    with serve(tmp_path, [folder / "wrapper.py"]) as stack:
        over_http = athena("call", f"{stack.base}/v1/private/greeter",
                           "--text", f"@{folder / 'test_data/hello.txt'}", "--param", "lang=fr")
        assert over_http.returncode == 0, over_http.stderr
        assert json.loads(over_http.stdout.split("result: ", 1)[1]) == {
            "length": 11, "upper": "HELLO WORLD", "lang": "fr"}

        over_grpc = athena("call", f"grpc://{stack.grpc}", "--ability", "greeter",
                           "--text", "grpc too")
        assert over_grpc.returncode == 0, over_grpc.stderr
        assert json.loads(over_grpc.stdout.split("result: ", 1)[1]) == {
            "length": 8, "upper": "GRPC TOO", "lang": "en"}

        too_long = athena("call", f"{stack.base}/v1/private/greeter", "--text", "x" * 10001)
        assert too_long.returncode == 1
        assert "error 13004: the \"text\" input is longer than [wrapper] max_chars" \
            in too_long.stderr
