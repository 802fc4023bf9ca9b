"""``deep_merge``: nested overrides onto a nested document (configs, settings, desired config, test fixtures)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` onto ``base``, as a new dict: mappings merge key by key, everything else (lists too) replaces.
    Neither argument is changed."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out
