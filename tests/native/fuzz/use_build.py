"""Run Python with the native modules of another build (sanitizer, fuzzing) instead of the venv's.

    python tests/native/fuzz/use_build.py BUILD_DIR -m pytest tests/native
    python tests/native/fuzz/use_build.py BUILD_DIR tests/native/fuzz/fuzz.py json_scan

The venv's editable install redirects `aiges_embed` and `athena_codec` to the copies in
site-packages ahead of sys.path, so PYTHONPATH alone cannot swap them: a finder placed first
on sys.meta_path answers for those two names from BUILD_DIR, and the run fails at once if the
module that loads is not the one from BUILD_DIR.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import runpy
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["use_build"]

NATIVE_MODULES = ("aiges_embed", "athena_codec")


class _BuildFinder(importlib.abc.MetaPathFinder):
    def __init__(self, build_dir: str) -> None:
        self.build_dir = build_dir

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in NATIVE_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, [self.build_dir])
        if spec is None:
            raise ImportError(f"{fullname} is not built in {self.build_dir}")
        return spec


def use_build(build_dir: str) -> None:
    """Import aiges_embed and athena_codec from build_dir from now on, and check that they do."""
    build_dir = os.path.abspath(build_dir)
    sys.meta_path.insert(0, _BuildFinder(build_dir))
    for name in NATIVE_MODULES:
        module = __import__(name)
        if os.path.dirname(os.path.abspath(module.__file__ or "")) != build_dir:
            raise SystemExit(f"{name} loaded from {module.__file__}, not from {build_dir}")


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    use_build(argv[0])
    # the run sees the working directory first on sys.path, as `python -m` would
    sys.path[0] = os.getcwd()
    if argv[1] == "-m":
        sys.argv = [argv[2], *argv[3:]]
        runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv[1:]
        runpy.run_path(argv[1], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
