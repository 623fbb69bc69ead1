"""`athena build`: a wrapper folder in, an OCI image that serves it out (podman or docker)."""
from __future__ import annotations

import json
import re
import shutil
import ssl
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loader.config import ConfigError, read_toml

__all__ = [
    "ABILITY_DIR", "APP_DIR", "BASE_IMAGE", "BUILD_BASE_IMAGE", "GRPC_PORT", "HTTP_PORT",
    "METRICS_PORT", "USER_ID", "VENV", "WORKER_PORT", "WRAPPER", "BuildError", "Recipe",
    "build", "read_recipe", "serve_command", "worker_command",
]

# The image's layout, defined here once (deploy/images/README.md lists them for the chart).
WORKER_PORT = 9000  # `athena loader`: loader.v1 gRPC and grpc.health.v1
METRICS_PORT = 9001  # `athena loader`: /metrics, /healthz, /readyz
HTTP_PORT = 8080  # `--serve` images: the gateway's HTTP (AIGES JSON, /metrics)
GRPC_PORT = 9090  # `--serve` images: the gateway's public gRPC
APP_DIR = "/app"
ABILITY_DIR = "/app/ability"  # the wrapper folder, as given
WRAPPER = f"{ABILITY_DIR}/wrapper.py"
VENV = "/opt/athena"  # the project and the ability's requirements; on PATH
USER_ID = 10001  # user and group; numeric so runAsNonRoot can check it
BASE_IMAGE = "localhost/athena-base:bookworm"  # python3, pip, venv (built locally, cached)
BUILD_BASE_IMAGE = "localhost/athena-base-dev:bookworm"  # + gcc, g++, cmake, python3-dev

_ROOT = Path(__file__).resolve().parent.parent
_CONTAINERFILE = _ROOT / "deploy" / "images" / "Containerfile"
_PROJECT_FILES = ("pyproject.toml", "README.md", "native", "gateway", "loader")
# the project's local build outputs stay out; so do caches and venvs of the ability's folder
_SKIP_PROJECT = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "build")
_SKIP_ABILITY = shutil.ignore_patterns("__pycache__", "*.pyc", ".venv", ".git")
_BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
_DEV_PACKAGES = (*_BASE_PACKAGES, "gcc", "g++", "make", "cmake", "python3-dev")
_DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
_DEBIAN_MIRROR = "http://deb.debian.org/debian"
_CONDA_FILES = ("env.yaml", "env.yml", "environment.yaml", "environment.yml")
_APT_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")  # Debian policy 5.6.1
_REFERENCE = re.compile(r"(?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._/-]+[a-z0-9]+)*"
                        r"(?::\w[\w.-]{0,127})?")
_STEPS = ("build", "import")
_UNKNOWN_APT = re.compile(r"Unable to locate package (\S+)")


class BuildError(Exception):
    """The folder or the build cannot make an image; the message names the problem."""


def worker_command() -> list[str]:
    """The default CMD (after the `athena` entry point): one loader worker."""
    return ["loader", WRAPPER, "--host", "0.0.0.0", "--port", str(WORKER_PORT),
            "--metrics-port", str(METRICS_PORT)]


def serve_command() -> list[str]:
    """The CMD of a `--serve` image: gateway and a worker in one container."""
    return ["serve", WRAPPER, "--host", "0.0.0.0", "--port", str(HTTP_PORT),
            "--grpc-port", str(GRPC_PORT)]


@dataclass(frozen=True)
class Recipe:
    """What a wrapper folder asks its image for."""

    folder: Path
    requirements: str  # requirements.txt lines, then the pip part of env.yaml
    apt: tuple[str, ...]


def read_recipe(folder: Path) -> Recipe:
    if not (folder / "wrapper.py").is_file():
        raise BuildError(f"{folder}: no wrapper.py in this folder (give the folder that holds "
                         "the ability's wrapper.py)")
    requirements = folder / "requirements.txt"
    lines = [requirements.read_text()] if requirements.is_file() else []
    lines += [f"{pip}\n" for name in _CONDA_FILES if (folder / name).is_file()
              for pip in _conda_pip(folder / name)]
    return Recipe(folder, "".join(lines), _apt_packages(folder / "aiges.toml"))


def _conda_pip(path: Path) -> list[str]:
    """The pip: list of a conda environment file; any conda package in it is an error."""
    try:
        import yaml
    except ImportError:
        raise BuildError(f"{path}: reading a conda file needs PyYAML "
                         "(pip install pyyaml)") from None
    try:
        env = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise BuildError(f"{path}: not valid YAML: {e}") from None
    dependencies = (env.get("dependencies") or []) if isinstance(env, dict) else []
    pip: list[str] = []
    conda_only: list[str] = []
    for dep in dependencies:
        if isinstance(dep, dict) and list(dep) == ["pip"]:
            pip += [str(p) for p in dep["pip"] or []]
        elif re.split(r"[=<>!~ \[]", str(dep).split("::")[-1])[0] not in ("python", "pip"):
            conda_only.append(str(dep))
    if conda_only:
        raise BuildError(f"{path}: conda-only dependencies {', '.join(conda_only)}: an image "
                         "installs with pip, so list them under `- pip:` (if on PyPI) or as "
                         "Debian packages in aiges.toml [build] apt")
    return pip


def _apt_packages(config: Path) -> tuple[str, ...]:
    try:
        table: Any = read_toml(config if config.is_file() else None).get("build", {})
    except ConfigError as e:
        raise BuildError(str(e)) from None
    names = table.get("apt", []) if isinstance(table, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise BuildError(f"{config}: [build] apt must be a list of Debian package names")
    for name in names:
        if not _APT_NAME.fullmatch(name):
            raise BuildError(f"{config}: [build] apt: {name!r} is not a Debian package name")
    return tuple(names)


@dataclass(frozen=True)
class _Engine:
    argv: tuple[str, ...]  # the client and its global flags
    podman: bool

    def exists(self, image: str) -> bool:
        check = ("image", "exists") if self.podman else ("image", "inspect")
        return subprocess.run([*self.argv, *check, image], capture_output=True).returncode == 0


def _engine() -> _Engine:
    if podman := shutil.which("podman"):
        # crun, Debian podman's default, cannot set up cgroups or rlimits in some sandboxes
        runc = shutil.which("runc") or shutil.which("/usr/sbin/runc")
        return _Engine((podman, *(("--runtime", runc) if runc else ())), True)
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True).returncode == 0:
        return _Engine((docker,), False)
    raise BuildError("no podman, and no docker with a running daemon: install podman "
                     "(`make images-deps` installs podman, buildah, mmdebstrap, umoci and runc)")


def _ensure_base(engine: _Engine, say: Callable[[str], None]) -> None:
    """Build the Debian bookworm base images from the mirror once; later builds reuse them."""
    for image, packages in ((BASE_IMAGE, _BASE_PACKAGES), (BUILD_BASE_IMAGE, _DEV_PACKAGES)):
        if engine.exists(image):
            continue
        if not shutil.which("mmdebstrap"):
            raise BuildError(f"no {image} and no mmdebstrap to make it: `make images-deps` "
                             "installs it (or give --base IMAGE)")
        # the host's own apt sources where it has them (its mirror is the reachable one)
        mirror = str(_DEBIAN_SOURCES) if _DEBIAN_SOURCES.is_file() else _DEBIAN_MIRROR
        say(f"making {image} from the Debian mirror (once)")
        with tempfile.TemporaryDirectory(prefix="athena-base-") as tmp:
            rootfs = f"{tmp}/rootfs.tar"
            _run(["mmdebstrap", "--variant=apt", "--include=" + ",".join(packages), "bookworm",
                  rootfs, mirror], say)
            _run([*engine.argv, "import", rootfs, image], say)


def _context(recipe: Recipe, serve: bool, into: Path) -> None:
    missing = [n for n in _PROJECT_FILES if not (_ROOT / n).exists()]
    if missing or not _CONTAINERFILE.is_file():
        raise BuildError(f"athena build needs the project's source tree beside gateway/ "
                         f"(pyproject.toml, native/, deploy/images/); {_ROOT} has not "
                         f"{', '.join(missing) or 'deploy/images/Containerfile'}: run it from "
                         "a checkout")
    for name in _PROJECT_FILES:
        source, target = _ROOT / name, into / "project" / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=_SKIP_PROJECT)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    shutil.copytree(recipe.folder, into / "ability", ignore=_SKIP_ABILITY)
    (into / "requirements.txt").write_text(recipe.requirements)
    (into / "apt.txt").write_text("\n".join(recipe.apt))
    # the host's trust store, so pip in the build trusts whatever the host does (a proxy's CA)
    bundle = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    if not Path(bundle).is_file():
        raise BuildError(f"no CA bundle at {bundle} for pip in the build")
    shutil.copyfile(bundle, into / "build-ca.crt")
    command = serve_command() if serve else worker_command()
    (into / "Containerfile").write_text(
        f"{_CONTAINERFILE.read_text()}CMD {json.dumps(command)}\n")


def build(folder: Path, tag: str, base: str | None = None, serve: bool = False,
          say: Callable[[str], None] = print) -> float:
    """Build and tag the image; returns the seconds it took. Nothing is tagged on failure."""
    if not _REFERENCE.fullmatch(tag):
        raise BuildError(f"-t {tag!r}: not an image name (lowercase NAME[:TAG], e.g. "
                         "localhost/echo:1)")
    recipe = read_recipe(folder)
    engine = _engine()
    started = time.monotonic()
    if base is None:
        _ensure_base(engine, say)
    args = {"BASE": base or BASE_IMAGE, "BUILD_BASE": base or BUILD_BASE_IMAGE, "VENV": VENV,
            "APP_DIR": APP_DIR, "ABILITY_DIR": ABILITY_DIR, "USER_ID": USER_ID,
            "WORKER_PORT": WORKER_PORT, "METRICS_PORT": METRICS_PORT, "HTTP_PORT": HTTP_PORT,
            "GRPC_PORT": GRPC_PORT}
    with tempfile.TemporaryDirectory(prefix="athena-build-") as tmp:
        _context(recipe, serve, Path(tmp))
        limits = ("--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096")
        _run([*engine.argv, "build", "--network", "host", *(limits if engine.podman else ()),
              *(f"--build-arg={k}={v}" for k, v in args.items()), "-t", tag,
              "-f", f"{tmp}/Containerfile", tmp], say, apt_config=folder / "aiges.toml")
    return time.monotonic() - started


def _run(command: Sequence[str], say: Callable[[str], None],
         apt_config: Path | None = None) -> None:
    """Run a build step, its output passed through; a failure raises with its last lines."""
    tail: deque[str] = deque(maxlen=30)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace") as process:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line.rstrip())
            say(line.rstrip())
    if process.returncode == 0:
        return
    unknown = [m.group(1) for line in tail if (m := _UNKNOWN_APT.search(line))]
    if unknown and apt_config is not None:
        raise BuildError(f"{apt_config}: [build] apt: Debian has no package "
                         f"{', '.join(dict.fromkeys(unknown))} (apt-get: Unable to locate "
                         "package); no image was tagged")
    step = " ".join(Path(c).name for c in command if c in _STEPS or c == command[0])
    raise BuildError(f"{step} failed (exit {process.returncode}); its last lines:\n"
                     + "\n".join(tail))
