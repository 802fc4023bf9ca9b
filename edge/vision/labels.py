"""Label files and model-embedded class names → a list indexed by the model's class id."""

from __future__ import annotations

import ast
import re
from pathlib import Path

_ID_LINE = re.compile(r"^\s*(\d+)[\s:,]+(.+?)\s*$")


class LabelError(ValueError):
    """A labels file or class-name list that cannot be used; the message names the file and the line."""


def read_labels(path: Path) -> list[str]:
    """Read a labels file: either one label per line (line number = id) or ``<id> <label>`` per line (ids may have
    gaps, as in the COCO-91 numbering the TF models use). Missing ids become ``""``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"labels file {path}: cannot read: {exc}") from None
    lines = [(n, ln.strip()) for n, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    if not lines:
        raise LabelError(f"labels file {path}: no labels in it")
    numbered = [_ID_LINE.match(ln) for _, ln in lines]
    if all(numbered):
        ids: dict[int, str] = {}
        for (n, _), m in zip(lines, numbered, strict=True):
            assert m is not None
            i = int(m.group(1))
            if i in ids:
                raise LabelError(f"labels file {path}: line {n}: id {i} is given twice")
            ids[i] = m.group(2).strip()
        out = [""] * (max(ids) + 1)
        for i, name in ids.items():
            out[i] = name
        return out
    return [ln for _, ln in lines]


def labels_from_metadata(meta: dict[str, str]) -> list[str] | None:
    """Class names from an ONNX model's metadata (Ultralytics exports ``names`` as ``{0: 'person', …}``)."""
    raw = meta.get("names")
    if not raw:
        return None
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, dict) and all(isinstance(k, int) for k in value):
        out = [""] * (max(value) + 1)
        for k, v in value.items():
            out[k] = str(v)
        return out
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return None
