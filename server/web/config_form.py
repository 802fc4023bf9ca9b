"""The desired-config form of a device page, generated from the kind's config schema in the contract
(``linli/contract/config_schemas/<kind>.json``; resolution of ``$ref``/optional fields shared with
:mod:`server.web.schema_form`).

Every field is an *override*: left empty it is not sent and the device keeps its own file's value (shown as the
placeholder: the schema's default). Numbers are number inputs with their unit and range, enums selects, booleans a
three-way switch (keep / on / off), nested sections fieldsets, lists of simple values one per line; a list or
mapping of sections (a gate's lanes, a tariff's bands) is one JSON box for that field alone, checked against the
field's schema. The form's text comes back as the overrides document (``values``) or a :class:`ConfigFormError`
whose ``errors`` name each wrong field with a message in both languages; nothing typed is lost (the page is shown
again with the text and the messages)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from server.web.schema_form import _simple

PREFIX = "cfg."
#: the name of a row of a mapping (a gate's lane "in"), a field of its own in the row
KEY = "_name"
#: the boolean switch's positions (the empty one keeps the device's own value)
SWITCH = ("", "1", "0")


@dataclass(frozen=True)
class Text:
    zh: str
    en: str

    def text(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class ConfigField:
    path: tuple[str, ...]
    input: str                                  # number | switch | select | text | lines | json | rows
    title: Text
    description: Text
    schema: dict[str, Any]                      # the resolved property schema (range, enum, items …)
    unit: Text | None = None
    options: tuple[tuple[str, Text], ...] = ()  # select: value → name
    default: Any = None
    row: dict[str, Any] | None = None           # rows: the resolved schema of one row (a section)
    keyed: bool = False                         # rows of a mapping (each row has a name), not of a list
    defs: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def form_name(self) -> str:
        return PREFIX + ".".join(self.path)

    @property
    def step(self) -> str:
        return "1" if self.schema.get("type") == "integer" else "any"

    @property
    def minimum(self) -> float | None:
        return self.schema.get("minimum", self.schema.get("exclusiveMinimum"))

    @property
    def maximum(self) -> float | None:
        return self.schema.get("maximum", self.schema.get("exclusiveMaximum"))

    @property
    def placeholder(self) -> str:
        """The default shown in an empty box (what the device uses when its file does not say otherwise)."""
        d = self.default
        if d is None or d == [] or d == {}:
            return ""
        if self.input == "lines" and isinstance(d, list):
            return "\n".join(str(v) for v in d)
        if self.input == "json":
            return json.dumps(d, ensure_ascii=False)
        if self.input == "select":
            return next((name.zh for v, name in self.options if v == str(d)), str(d))
        return _plain(d)

    def rows(self, text: Mapping[str, str]) -> list[ConfigGroup]:
        """A rows field's sections: one per row in the text, and an empty one to add a row."""
        assert self.row is not None
        prefix = self.form_name + "."
        used = {int(k[len(prefix):].split(".", 1)[0]) for k in text
                if k.startswith(prefix) and k[len(prefix):].split(".", 1)[0].isdigit()}
        return [self.row_group(i) for i in range(max(used, default=-1) + 2)]

    def row_group(self, i: int) -> ConfigGroup:
        assert self.row is not None
        path = (*self.path, str(i))
        g = _item(path, self.row, self.defs)
        assert isinstance(g, ConfigGroup)
        n = Text(f"第 {i + 1} 项", f"Item {i + 1}")
        items = list(g.items)
        if self.keyed:
            items.insert(0, ConfigField((*path, KEY), "text", Text("名称", "Name"), Text("", ""),
                                        {"type": "string", "minLength": 1, "maxLength": 64}))
        return ConfigGroup(path, n, Text("", ""), items)

    def default_text(self, lang: str) -> str:
        if self.input == "select":
            return next((name.text(lang) for v, name in self.options if v == str(self.default)), "")
        if self.input == "switch":
            return ("开" if lang == "zh" else "on") if self.default else ("关" if lang == "zh" else "off")
        return self.placeholder


@dataclass(frozen=True)
class ConfigGroup:
    path: tuple[str, ...]
    title: Text
    description: Text
    items: list[ConfigField | ConfigGroup] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return "cfg-" + "-".join(self.path)

    def has_any(self, names: Mapping[str, Any]) -> bool:
        """Whether one of these form fields (with something in it) lies in this section, rows included: the page
        opens such a section."""
        prefix = PREFIX + ".".join(self.path) + "."
        return any(n.startswith(prefix) and v for n, v in names.items())

    def fields(self) -> Iterator[ConfigField]:
        for item in self.items:
            if isinstance(item, ConfigGroup):
                yield from item.fields()
            else:
                yield item


class ConfigFormError(ValueError):
    """Wrong values typed into the config form: form field name → message (zh, en)."""

    def __init__(self, errors: dict[str, Text]) -> None:
        super().__init__("; ".join(f"{k}: {v.en}" for k, v in errors.items()))
        self.errors = errors


def _texts(prop: dict[str, Any]) -> tuple[Text, Text, Text | None]:
    title = Text(prop.get("x-title-zh") or prop.get("title", ""), prop.get("title", ""))
    desc = Text(prop.get("x-description-zh", ""), prop.get("x-description-en", ""))
    unit = Text(prop["x-unit-zh"], prop["x-unit-en"]) if "x-unit-en" in prop else None
    return title, desc, unit


def _is_scalar(s: dict[str, Any]) -> bool:
    return "enum" in s or s.get("type") in ("string", "integer", "number", "boolean")


def _item(path: tuple[str, ...], raw: dict[str, Any], defs: dict[str, Any]) -> ConfigField | ConfigGroup:
    # the annotations (names, unit) sit on the property; type and range on what it refers to
    prop = {**_simple(raw, defs), **{k: v for k, v in raw.items() if k.startswith(("x-", "title", "description",
                                                                                  "default"))}}
    title, desc, unit = _texts(prop)
    common: dict[str, Any] = {"path": path, "title": title, "description": desc, "unit": unit,
                              "default": prop.get("default"), "schema": prop}
    kind = prop.get("type")
    if kind == "object" and "properties" in prop:
        return ConfigGroup(path, title, desc, [_item((*path, n), p, defs) for n, p in prop["properties"].items()])
    if "enum" in prop:
        names = prop.get("x-enum-zh", {})
        return ConfigField(input="select", options=tuple(
            (str(v), Text(names.get(str(v), str(v)), str(v).replace("_", " "))) for v in prop["enum"]), **common)
    if kind == "boolean":
        return ConfigField(input="switch", **common)
    if kind in ("integer", "number"):
        return ConfigField(input="number", **common)
    if kind == "string":
        return ConfigField(input="text", **common)
    if kind == "array" and _is_scalar(_simple(prop.get("items", {}), defs)):
        return ConfigField(input="lines", **common)
    for key, keyed in (("items", False), ("additionalProperties", True)):
        sub = prop.get(key)
        if kind == ("object" if keyed else "array") and isinstance(sub, dict):
            row = _simple(sub, defs)
            if row.get("type") == "object" and "properties" in row:  # a list (or mapping) of sections: rows
                return ConfigField(input="rows", row=row, keyed=keyed, defs=defs, **common)
    return ConfigField(input="json", **common)


def form(schema: Mapping[str, Any]) -> ConfigGroup:
    """The form of a kind's config schema: one group per nested section, in the schema's order."""
    defs = schema.get("$defs", {})
    return ConfigGroup((), Text("", ""), Text("", ""),
                       [_item((n,), p, defs) for n, p in schema.get("properties", {}).items()])


def prefill(root: ConfigGroup, overrides: Mapping[str, Any] | None) -> dict[str, str]:
    """The form's text for the overrides in force (form field name → text)."""
    out: dict[str, str] = {}
    for f in root.fields():
        value: Any = overrides or {}
        for key in f.path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is None:
            continue
        if f.input == "rows":
            items = ([{**v, KEY: k} for k, v in value.items()] if f.keyed and isinstance(value, Mapping)
                     else value if isinstance(value, list) else [])
            for i, item in enumerate(items):
                g = f.row_group(i)
                out.update(prefill(ConfigGroup((), g.title, g.description, [g]),
                                   _nest(g.path, item if isinstance(item, Mapping) else {})))
        elif f.input == "switch":
            out[f.form_name] = "1" if value else "0"
        elif f.input == "lines" and isinstance(value, list):
            out[f.form_name] = "\n".join(str(v) for v in value)
        elif f.input == "json":
            out[f.form_name] = json.dumps(value, ensure_ascii=False, indent=1)
        else:
            out[f.form_name] = _plain(value)
    return out


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out: Any = value
    for key in reversed(path):
        out = {key: out}
    return dict(out)


def _plain(value: Any) -> str:
    """A value as people write it: 600.0 → "600" (the form's text of a number)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _number(f: ConfigField, text: str) -> float | int:
    s = f.schema
    try:
        value: float | int = int(text) if s.get("type") == "integer" else float(text)
    except ValueError:
        what = Text("请填整数", "a whole number is needed") if s.get("type") == "integer" else \
            Text("请填数字", "a number is needed")
        raise ConfigFormError({f.form_name: what}) from None
    if not math.isfinite(value):
        raise ConfigFormError({f.form_name: Text("请填数字", "a number is needed")})
    for key, bad, zh, en in (("minimum", value < s.get("minimum", -math.inf), "不能小于", "at least"),
                             ("exclusiveMinimum", value <= s.get("exclusiveMinimum", -math.inf), "必须大于",
                              "more than"),
                             ("maximum", value > s.get("maximum", math.inf), "不能大于", "at most"),
                             ("exclusiveMaximum", value >= s.get("exclusiveMaximum", math.inf), "必须小于",
                              "less than")):
        if bad:
            unit = f" {f.unit.zh}" if f.unit else ""
            unit_en = f" {f.unit.en}" if f.unit else ""
            raise ConfigFormError({f.form_name: Text(f"{zh} {_fmt(s[key])}{unit}", f"must be {en} "
                                                     f"{_fmt(s[key])}{unit_en}")})
    return value


def _string(f: ConfigField, text: str, schema: Mapping[str, Any] | None = None) -> str:
    s = schema or f.schema
    if len(text) < s.get("minLength", 0):
        raise ConfigFormError({f.form_name: Text(f"至少 {s['minLength']} 个字", f"at least {s['minLength']} "
                                                 "characters")})
    if len(text) > s.get("maxLength", math.inf):
        raise ConfigFormError({f.form_name: Text(f"最多 {s['maxLength']} 个字", f"at most {s['maxLength']} "
                                                 "characters")})
    if "pattern" in s and not re.search(s["pattern"], text):
        raise ConfigFormError({f.form_name: Text("格式不对", "not in the expected form")})
    return text


def _checked(f: ConfigField, value: Any, defs: Mapping[str, Any]) -> Any:
    """A whole list or mapping, checked against the field's schema (with the schema's definitions)."""
    schema = {**f.schema, "$defs": defs}
    err = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(value))
    if err is not None and err.validator == "required" and isinstance(err.instance, dict):
        name = next(str(p) for p in err.validator_value if p not in err.instance)
        prop = (err.schema.get("properties") or {}).get(name, {}) if isinstance(err.schema, dict) else {}
        zh, en = prop.get("x-title-zh", prop.get("title", name)), prop.get("title", name)
        at = [p for p in err.absolute_path if isinstance(p, int)]
        row = (f"第 {at[0] + 1} 项", f"item {at[0] + 1} ") if at else ("", "")
        raise ConfigFormError({f.form_name: Text(f"{row[0]}缺少“{zh}”", f"{row[1]}lacks “{en}”".capitalize())})
    if err is not None:
        where = "".join(f"[{p}]" for p in err.absolute_path)
        raise ConfigFormError({f.form_name: Text(f"不符合要求{where}：{err.message}",
                                                 f"does not fit{(' at ' + where) if where else ''}: "
                                                 f"{err.message}")})
    return value


def _value(f: ConfigField, text: str, defs: Mapping[str, Any]) -> Any:
    if f.input == "switch":
        if text not in SWITCH:
            raise ConfigFormError({f.form_name: Text("请选择开或关", "choose on or off")})
        return text == "1"
    if f.input == "select":
        if text not in {v for v, _ in f.options}:
            raise ConfigFormError({f.form_name: Text("请从列表中选择", "choose one of the list")})
        return next(v for v in f.schema["enum"] if str(v) == text)
    if f.input == "number":
        return _number(f, text)
    if f.input == "text":
        return _string(f, text)
    if f.input == "lines":
        items = _simple(f.schema.get("items", {}), dict(defs))
        out: list[Any] = []
        for line in (x.strip() for x in text.splitlines()):
            if not line:
                continue
            if items.get("type") in ("integer", "number"):
                out.append(_number(ConfigField(f.path, "number", f.title, f.description, items, f.unit), line))
            else:
                out.append(line)
        return _checked(f, out, defs)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigFormError({f.form_name: Text(f"JSON 格式错误（第 {exc.lineno} 行第 {exc.colno} 列）",
                                                 f"not valid JSON (line {exc.lineno} column {exc.colno})")}) from None
    return _checked(f, value, defs)


def _rows(f: ConfigField, text: Mapping[str, str], defs: Mapping[str, Any]) -> Any:
    """A rows field's value (None when no row is filled): a list, or a mapping by each row's name; checked
    against the field's schema. Every wrong field of every row is named."""
    rows: list[dict[str, Any]] = []
    errors: dict[str, Text] = {}
    for g in f.rows(text):
        try:
            row = values({"$defs": defs}, ConfigGroup((), g.title, g.description, [g]), text)
        except ConfigFormError as exc:
            errors.update(exc.errors)
            continue
        for key in g.path:
            row = row.get(key, {})
        if row:
            rows.append(row)
    if errors:
        raise ConfigFormError(errors)
    if not rows:
        return None
    if f.keyed:
        names = [r.pop(KEY, "") for r in rows]
        if "" in names or len(set(names)) != len(names):
            raise ConfigFormError({f.form_name: Text("每一项都要有不同的名称", "every item needs a name of its own")})
        return _checked(f, dict(zip(names, rows, strict=True)), defs)
    return _checked(f, rows, defs)


def values(schema: Mapping[str, Any], root: ConfigGroup, text: Mapping[str, str]) -> dict[str, Any]:
    """The overrides document from the form's text (empty fields left out), every field checked; a
    ConfigFormError lists every wrong field at once."""
    out: dict[str, Any] = {}
    errors: dict[str, Text] = {}
    defs = schema.get("$defs", {})
    for f in root.fields():
        if f.input == "rows":
            try:
                value = _rows(f, text, defs)
            except ConfigFormError as exc:
                errors.update(exc.errors)
                continue
            if value is not None:
                node = out
                for key in f.path[:-1]:
                    node = node.setdefault(key, {})
                node[f.path[-1]] = value
            continue
        raw = text.get(f.form_name, "")
        raw = raw.strip() if f.input not in ("lines", "json") else raw.strip("\n\r\t ")
        if raw == "":
            continue
        try:
            value = _value(f, raw, defs)
        except ConfigFormError as exc:
            errors.update(exc.errors)
            continue
        node = out
        for key in f.path[:-1]:
            node = node.setdefault(key, {})
        node[f.path[-1]] = value
    if errors:
        raise ConfigFormError(errors)
    return out


def outside(root: ConfigGroup, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The part of the overrides in force that no field of the form shows (kept when the form is sent, so that
    sending the form never drops an override it cannot show)."""
    fields = {f.path for f in root.fields()}
    groups = {g.path for g in _all_groups(root)}

    def walk(node: Mapping[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in node.items():
            p = (*path, k)
            if p in fields:
                continue
            if p in groups and isinstance(v, Mapping):
                inner = walk(v, p)
                if inner:
                    out[k] = inner
            else:
                out[k] = v
        return out

    return walk(overrides or {}, ())


def _all_groups(g: ConfigGroup) -> Iterator[ConfigGroup]:
    yield g
    for item in g.items:
        if isinstance(item, ConfigGroup):
            yield from _all_groups(item)
