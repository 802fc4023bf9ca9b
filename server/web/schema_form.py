"""JSON schema → HTML form fields, and the form's text back to typed values (the simple types: string, number,
integer, boolean, enum). Used for the device page's command picker (each command's argument model from the
contract) so that people fill a typed form instead of writing JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

#: form field names of the arguments: ``arg.<name>``
PREFIX = "arg."


@dataclass(frozen=True)
class FormField:
    name: str                      # the argument's name
    input: str                     # number | checkbox | select | text
    required: bool
    default: Any = None
    step: str | None = None        # "1" for integers, "any" for numbers
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    options: tuple[str, ...] = ()
    description: str = ""

    @property
    def form_name(self) -> str:
        return PREFIX + self.name


class SchemaFormError(ValueError):
    """A value people typed does not fit the schema (the message says which field and why)."""


def _simple(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Resolve ``$ref`` and ``anyOf [X, null]`` (an optional field) to the one simple schema."""
    if "$ref" in prop:
        prop = {**defs.get(prop["$ref"].rsplit("/", 1)[-1], {}), **{k: v for k, v in prop.items() if k != "$ref"}}
    for key in ("anyOf", "oneOf"):
        if key in prop:
            options = [p for p in prop[key] if p.get("type") != "null"]
            if len(options) == 1:
                prop = {**_simple(options[0], defs), **{k: v for k, v in prop.items() if k != key}}
    return prop


def fields(model: type[BaseModel] | None) -> list[FormField]:
    """The form fields of an argument model (none for a command without arguments). A field of a type the form
    cannot show (a list, an object) raises SchemaFormError: such commands are sent through the API."""
    if model is None:
        return []
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", ()))
    out = []
    for name, raw in schema.get("properties", {}).items():
        prop = _simple(raw, defs)
        kind = prop.get("type")
        common = {"name": name, "required": name in required, "default": prop.get("default"),
                  "description": prop.get("description", "")}
        if "enum" in prop:
            out.append(FormField(input="select", options=tuple(str(v) for v in prop["enum"]), **common))
        elif kind == "boolean":
            out.append(FormField(input="checkbox", **common))
        elif kind in ("integer", "number"):
            out.append(FormField(input="number", step="1" if kind == "integer" else "any",
                                 minimum=prop.get("minimum", prop.get("exclusiveMinimum")),
                                 maximum=prop.get("maximum", prop.get("exclusiveMaximum")), **common))
        elif kind == "string":
            out.append(FormField(input="text", max_length=prop.get("maxLength"), **common))
        else:
            raise SchemaFormError(f"{model.__name__}.{name}: a {kind or 'complex'} field has no simple form")
    return out


def values(model: type[BaseModel] | None, form: dict[str, str]) -> dict[str, Any]:
    """The typed arguments from the form's text (``arg.<name>`` fields), validated by the model. An empty optional
    field is left out (the model's default applies); an unchecked box is ``false``."""
    if model is None:
        return {}
    out: dict[str, Any] = {}
    for f in fields(model):
        text = form.get(f.form_name, "").strip()
        if f.input == "checkbox":
            out[f.name] = text in ("1", "true", "on")
            continue
        if not text:
            if f.required:
                raise SchemaFormError(f"{f.name}: required")
            continue
        if f.input == "number":
            try:
                out[f.name] = int(text) if f.step == "1" else float(text)
            except ValueError:
                raise SchemaFormError(f"{f.name}: not a number: {text[:40]}") from None
        else:
            out[f.name] = text
    try:
        return model.model_validate(out).model_dump(mode="json", exclude_unset=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err.get("loc", ())) or "args"
        raise SchemaFormError(f"{where}: {err.get('msg', 'invalid')}") from None
