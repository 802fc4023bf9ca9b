"""Where the server finds each device kind's parts: ``server/<kind>/<part>.py`` (ingest, dashboard, service,
api, pages…). One lookup, used by every loader, so a kind plugs in by creating the module and nothing else."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable, Iterator
from types import ModuleType

from linli.contract import Kind


def kind_modules(part: str, kinds: Iterable[Kind] = tuple(Kind)) -> Iterator[tuple[Kind, ModuleType]]:
    """``(kind, module)`` for every kind that has a ``server.<kind>.<part>`` module, imported."""
    for kind in kinds:
        name = f"server.{kind.value}.{part}"
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # the kind has no server package at all
            found = False
        if found:
            yield kind, importlib.import_module(name)


def registrar(module: ModuleType, attr: str = "register"):
    """The module's ``register`` callable; a module that exists without one is a programming error, said clearly."""
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise TypeError(f"{module.__name__} has no {attr}() function")
    return fn
