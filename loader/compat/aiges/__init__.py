"""Athena's stand-in for the `aiges` Python SDK: its import names, none of its server.

Imported as `aiges` only when the real SDK is not installed (see loader.compat). Wrappers get
the SDK's public names with their behaviour (aiges.sdk, aiges.dto, aiges.core.types and the old
aiges.types, aiges.utils.log, aiges.stream, aiges.errors) without Flask, gradio, pydantic or
jinja2; the data classes are aiges_embed's own, the ones the worker serialises.
"""
from __future__ import annotations

from typing import Final

__all__ = ["EXIT_SIG"]

EXIT_SIG: Final = -1  # the SDK's; its own server loop used it
