"""`athena build` refuses bad input before any image is built, naming the problem."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gateway import build
from gateway.build import BuildError, read_recipe
from tests.support import ATHENA, ROOT

ECHO = ROOT / "wrappers" / "echo"
IMAGES_README = ROOT / "deploy" / "images" / "README.md"


def athena_build(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATHENA, "build", str(folder), "-t", "localhost/athena-bad:1", *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def ability(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "ability"
    shutil.copytree(ECHO, folder)
    for name, text in files.items():
        (folder / name.replace("_", ".", 1)).write_text(text)
    return folder


def test_build_of_a_folder_without_wrapper_py_exits_2_naming_it(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text("x = 1\n")
    result = athena_build(tmp_path)
    assert result.returncode == 2
    assert f"athena build: {tmp_path}: no wrapper.py in this folder" in result.stderr


def test_build_refuses_a_conda_only_dependency_naming_it(tmp_path: Path) -> None:
    folder = ability(tmp_path, env_yaml=(
        "name: ocr\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip\n"
        "  - conda-forge::cudatoolkit=11.8\n  - pip:\n      - numpy>=1.26\n"))
    result = athena_build(folder)
    assert result.returncode == 2
    assert "conda-only dependencies conda-forge::cudatoolkit=11.8" in result.stderr
    assert "numpy" not in result.stderr  # the pip part is fine


def test_build_refuses_a_system_package_that_is_not_a_debian_name(tmp_path: Path) -> None:
    folder = ability(tmp_path, aiges_toml='[build]\napt = ["tesseract-ocr", "Bad Name;rm"]\n')
    result = athena_build(folder)
    assert result.returncode == 2
    assert "[build] apt: 'Bad Name;rm' is not a Debian package name" in result.stderr


def test_build_refuses_an_apt_key_that_is_not_a_list(tmp_path: Path) -> None:
    folder = ability(tmp_path, aiges_toml='[build]\napt = "tesseract-ocr"\n')
    result = athena_build(folder)
    assert result.returncode == 2
    assert "[build] apt must be a list of Debian package names" in result.stderr


def test_build_refuses_a_tag_that_is_not_an_image_name(tmp_path: Path) -> None:
    result = subprocess.run([ATHENA, "build", str(ECHO), "-t", "Echo Image:1"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "-t 'Echo Image:1': not an image name" in result.stderr


def test_recipe_takes_requirements_txt_and_the_pip_part_of_env_yaml(tmp_path: Path) -> None:
    folder = ability(tmp_path, requirements_txt="pillow>=10\n", environment_yml=(
        "dependencies:\n  - python>=3.11\n  - pip:\n      - scikit-learn>=1.4\n"),
        aiges_toml='[fc]\nmax = 2\n[build]\napt = ["tesseract-ocr", "tesseract-ocr-eng"]\n')
    recipe = read_recipe(folder)
    assert recipe.requirements.splitlines() == ["pillow>=10", "scikit-learn>=1.4"]
    assert recipe.apt == ("tesseract-ocr", "tesseract-ocr-eng")


def test_recipe_of_echo_needs_nothing_extra() -> None:
    recipe = read_recipe(ECHO)
    assert (recipe.requirements, recipe.apt) == ("", ())


def test_recipe_of_ocr_brings_tesseract_and_its_python_packages() -> None:
    recipe = read_recipe(ECHO.parent / "ocr")
    assert recipe.apt == ("tesseract-ocr", "tesseract-ocr-eng")
    assert "pytesseract" in recipe.requirements and "pillow" in recipe.requirements


def test_a_bad_env_yaml_is_an_error_naming_the_file(tmp_path: Path) -> None:
    folder = ability(tmp_path, env_yaml="dependencies: [pip\n")
    with pytest.raises(BuildError, match=r"env\.yaml: not valid YAML"):
        read_recipe(folder)


def test_the_images_readme_states_every_constant_the_chart_needs() -> None:
    text = IMAGES_README.read_text()
    for name in ("WORKER_PORT", "METRICS_PORT", "HTTP_PORT", "GRPC_PORT", "APP_DIR",
                 "ABILITY_DIR", "WRAPPER", "VENV", "USER_ID", "BASE_IMAGE", "BUILD_BASE_IMAGE"):
        assert f"| `{name}` | `{getattr(build, name)}` |" in text, name
    assert " ".join(build.worker_command()) in text
    assert " ".join(build.serve_command()) in text
