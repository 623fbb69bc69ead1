"""`athena new`: a runnable wrapper folder written from the templates in gateway/templates/new."""
from __future__ import annotations

import re
from pathlib import Path

__all__ = ["TEMPLATES", "ScaffoldError", "check_name", "new_ability"]

# every file under it is written into the new folder, `{{name}}` replaced and `.tpl` dropped
# (the suffix keeps templates from being linted, type-checked or collected as this package's)
TEMPLATES = Path(__file__).resolve().parent / "templates" / "new"

_PLACEHOLDER = "{{name}}"
_SERVICE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class ScaffoldError(Exception):
    """The folder cannot be written; the message says why and what to do."""


def check_name(name: str) -> str:
    """NAME as a service id (route /v1/private/NAME, folder NAME/), or ScaffoldError."""
    if not _SERVICE_ID.fullmatch(name):
        raise ScaffoldError(
            f"{name!r} is not a valid ability name: use letters, digits, '_' and '-', "
            "starting with a letter or '_' (it becomes the service id, the route "
            "/v1/private/NAME and the folder name)")
    return name


def new_ability(name: str, parent: Path) -> list[Path]:
    """Write parent/NAME/ from the templates; the files written, in order. Refuses a NAME/
    that already holds anything (nothing is written then)."""
    check_name(name)
    target = parent / name
    if target.exists() and not target.is_dir():
        raise ScaffoldError(f"{target} already exists and is not a folder: choose another "
                            "NAME or --dir")
    if target.is_dir() and any(target.iterdir()):
        raise ScaffoldError(f"{target} already exists and is not empty: nothing was written "
                            "(choose another NAME or --dir, or remove it)")
    written = []
    for template in sorted(p for p in TEMPLATES.rglob("*") if p.is_file()):
        relative = template.relative_to(TEMPLATES)
        path = target / relative.parent / relative.name.removesuffix(".tpl")
        path.parent.mkdir(parents=True, exist_ok=True)
        text = template.read_text("utf-8").replace(_PLACEHOLDER, name)
        with path.open("x", encoding="utf-8", newline="") as out:  # "x": never overwrite
            out.write(text)
        written.append(path)
    return written
