"""Each kind's ``app:`` config schema (JSON schema with Chinese and English names, units and ranges), generated
from the edge's config models by ``python -m edge.runtime.config_schemas`` and committed here, so that the server
builds the desired-config form from the contract without importing edge code."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent


@cache
def _load(kind: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{kind}.json").read_text(encoding="utf-8"))


def config_schema(kind: str) -> dict[str, Any] | None:
    """The kind's config schema (None for an unknown kind). The returned dict is shared: do not change it."""
    from linli.contract import Kind

    try:
        return _load(Kind(kind).value)
    except ValueError:
        return None
