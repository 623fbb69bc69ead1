"""The import boundaries between the hops, read from the source (AST), so they stay true.

- The contract, loader/v1, depends on grpc and protobuf (and the standard library) only.
- The gateway imports of the loader only the contract, the config reader, the process kit
  (loader.process, loader.restarts) and the certificate files both hops read
  (loader.certificates);
  gateway/cli.py, the composition root, is the one module allowed more (it starts the
  supervisor and runs `athena loader`).
- The loader never imports the gateway, and its shared modules import no worker internals.
"""
from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import ROOT

SHARED = ("loader.v1", "loader.config", "loader.process", "loader.restarts",
          "loader.certificates")
COMPOSITION_ROOT = ROOT / "gateway" / "cli.py"
CONTRACT_DEPENDENCIES = {"__future__", "grpc", "grpc_status", "google"}


def imports_of(path: Path, package: str | None = None) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in the file, function-level ones included."""
    if package is None:
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:  # `from loader import servicer` imports loader.servicer
                yield node.lineno, f"{module}.{alias.name}"


def sources(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "_pb2" not in p.name)


def within(module: str, prefixes: tuple[str, ...] | str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in (
        (prefixes,) if isinstance(prefixes, str) else prefixes))


Allowed = Callable[[Path, str], bool]


def edges(paths: list[Path], allowed: Allowed, package: str | None = None) -> list[str]:
    return [f"{path.name}:{line} imports {module}"
            for path in paths for line, module in imports_of(path, package)
            if not allowed(path, module)]


def _is_loader_module(module: str) -> bool:
    """`from loader import v1` also yields "loader" itself: only real modules count."""
    return within(module, "loader") and module != "loader"


def test_the_contract_depends_on_grpc_and_protobuf_only() -> None:
    def allowed(_: Path, module: str) -> bool:
        top = module.split(".")[0]
        return (top in sys.stdlib_module_names or top in CONTRACT_DEPENDENCIES
                or within(module, "loader.v1") or module == "loader")
    assert edges(sources("loader/v1"), allowed) == []


def test_the_gateway_imports_only_the_contract_config_and_process_kit() -> None:
    def allowed(path: Path, module: str) -> bool:
        return (path == COMPOSITION_ROOT or not _is_loader_module(module)
                or within(module, SHARED))
    assert edges(sources("gateway"), allowed) == []


def test_the_loader_never_imports_the_gateway() -> None:
    assert edges(sources("loader"), lambda _, module: not within(module, "gateway")) == []


@pytest.mark.parametrize("shared", ["loader/config.py", "loader/process.py"])
def test_shared_modules_import_no_worker_internals(shared: str) -> None:
    def allowed(_: Path, module: str) -> bool:
        return not _is_loader_module(module) or within(module, SHARED)
    assert edges([ROOT / shared], allowed) == []


def test_only_the_composition_root_starts_a_supervisor() -> None:
    importers = [str(path.relative_to(ROOT)) for folder in ("gateway", "loader")
                 for path in sources(folder)
                 if any(within(m, "loader.supervisor") for _, m in imports_of(path))]
    assert importers == ["gateway/cli.py"]


def test_the_boundary_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The checks above pass only if they can fail: a planted edge of each form is found."""
    planted = tmp_path / "planted.py"
    planted.write_text("import loader.servicer\nfrom loader import plugin, v1\n"
                       "def late():\n    from loader.engine import OnceEngine\n")
    found = edges([planted], lambda _, m: not _is_loader_module(m) or within(m, SHARED),
                  package="gateway")
    assert [edge.split(" imports ")[1] for edge in found] == [
        "loader.servicer", "loader.plugin", "loader.engine", "loader.engine.OnceEngine"]
