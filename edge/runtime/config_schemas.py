"""Each kind's ``app:`` config model → a JSON schema in the contract (``linli/contract/config_schemas/<kind>.json``),
so that the server can build the desired-config form without importing edge code.

Every property carries what a person reads: ``title`` (English, without its unit), ``x-title-zh``, ``description``
and ``x-description-zh``, the unit (``x-unit-en``/``x-unit-zh``) taken from the title's ``(…)``, and for an enum
``x-enum-zh``/``x-enum-en`` (value → name). The Chinese texts live next to each kind's config model
(``edge/apps/<kind>/config_zh.py``). ``python -m edge.runtime.config_schemas`` rewrites the files;
``--check`` exits 1 when a committed file is out of date (tests/edge/test_config_schemas.py runs it)."""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any

from edge.apps import load_app
from linli.contract import Kind
from linli.contract.config_schemas import SCHEMA_DIR

#: units a title may end with, "(s)" → seconds; other parentheses stay in the title
UNITS: dict[str, str] = {"s": "秒", "W": "瓦", "°C": "°C", "fen": "分", "%": "%", "px": "像素", "CSS px": "CSS 像素",
                         "bytes": "字节", "days": "天", "min": "分钟", "m": "米", "frames": "帧"}
_UNIT_RE = re.compile(r"^(?P<title>.*?)\s*\((?P<unit>[^()]+)\)$")
#: what a person should not read in an English description (a key, a module, code): such a description is for the
#: YAML's reader only, and the form shows the title, unit and range without it
_CODE_RE = re.compile(r"`|\b(?:None|True|False)\b|\b[a-z][a-z0-9]*_[a-z0-9_]+\b"
                      r"|\b[a-z]+\.[a-z_]+\.?[a-z_]*\b(?<!e\.g)")


class MissingLabel(LookupError):
    """A field (or an enum value) a person sees has no Chinese name."""


def zh_labels(kind: Kind) -> dict[str, Any]:
    """The kind's Chinese field names: ``{"Model.field": (title, description)}`` and ``{"Model.field=value": name}``."""
    from edge.apps.config_zh import SHARED

    mod = importlib.import_module(f"edge.apps.{kind.value}.config_zh")
    return {**SHARED, **mod.ZH}


def _ref_title(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    """The title of the model a property refers to (a nested section written without a title of its own)."""
    for p in (prop, *prop.get("anyOf", ()), *prop.get("allOf", ())):
        if "$ref" in p:
            return str(defs.get(p["$ref"].rsplit("/", 1)[-1], {}).get("title") or "")
    return ""


def _annotate(model_name: str, props: dict[str, Any], defs: dict[str, Any], zh: dict[str, Any],
              missing: list[str]) -> None:
    for name, prop in props.items():
        key = f"{model_name}.{name}"
        title = str(prop.get("title") or "") or _ref_title(prop, defs)
        prop["title"] = title
        m = _UNIT_RE.match(title)
        if m and m["unit"] in UNITS:
            prop["title"] = m["title"]
            prop["x-unit-en"], prop["x-unit-zh"] = m["unit"], UNITS[m["unit"]]
        if "n_of_m" in prop["title"]:
            prop["title"] = prop["title"].replace("n_of_m", "N of M")
        desc = str(prop.get("description") or "")
        if desc and not _CODE_RE.search(desc.replace("e.g.", "")):
            prop["x-description-en"] = desc
        got = zh.get(key)
        if not got or not title:
            missing.append(key)
            continue
        prop["x-title-zh"], desc_zh = got
        if desc_zh:
            prop["x-description-zh"] = desc_zh
        enum = prop.get("enum") or prop.get("items", {}).get("enum")
        if enum:
            names = {str(v): zh.get(f"{key}={v}") for v in enum}
            missing += [f"{key}={v}" for v, n in names.items() if not n]
            prop["x-enum-zh"] = {v: n for v, n in names.items() if n}


_ROOT = Path(__file__).resolve().parents[2]


def _portable(obj: Any) -> Any:
    """Defaults that are paths inside this installation, written relative to it (the files are committed)."""
    if isinstance(obj, dict):
        return {k: _portable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_portable(v) for v in obj]
    if isinstance(obj, str) and obj.startswith(str(_ROOT) + "/"):
        return obj[len(str(_ROOT)) + 1:]
    return obj


def kind_schema(kind: Kind) -> dict[str, Any]:
    """The annotated JSON schema of a kind's ``app:`` section. MissingLabel names every field without Chinese."""
    model = load_app(kind).config_model
    schema = model.model_json_schema()
    zh = zh_labels(kind)
    missing: list[str] = []
    defs = schema.get("$defs", {})
    _annotate(model.__name__, schema.get("properties", {}), defs, zh, missing)
    for def_name, d in defs.items():
        _annotate(def_name, d.get("properties", {}), defs, zh, missing)
    if missing:
        raise MissingLabel(f"{kind.value}: no Chinese name in edge/apps/{kind.value}/config_zh.py for: "
                           + ", ".join(missing))
    schema["x-kind"] = kind.value
    return _portable(schema)


def render(kind: Kind) -> str:
    return json.dumps(kind_schema(kind), ensure_ascii=False, indent=1) + "\n"  # the models' field order


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.runtime.config_schemas",
                                description="Write each kind's config schema (with Chinese names) into the contract.")
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when a committed file is out of date")
    p.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="where the files go (default: %(default)s)")
    args = p.parse_args(argv)
    stale = []
    for kind in Kind:
        path = args.dir / f"{kind.value}.json"
        text = render(kind)
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    verb = "out of date" if args.check else "written"
    for path in stale:
        print(f"{path}: {verb}", file=sys.stderr if args.check else sys.stdout)
    if args.check and stale:
        print("run: python -m edge.runtime.config_schemas", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
