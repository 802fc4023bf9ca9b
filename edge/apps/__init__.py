"""Device kinds: the registry maps each kind to the App class that implements it, imported lazily.

A kind registers by having its class at the place named here (``edge/apps/<kind>/app.py``); nothing in
``edge/runtime`` changes when a kind is added. A kind whose module is missing or broken is reported with one
clear line when an agent of that kind is configured, and does not disturb the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from linli.contract import Kind

if TYPE_CHECKING:
    from edge.apps.base import App

#: kind → "module:Class"
APPS: dict[Kind, str] = {
    Kind.probe: "edge.apps.probe.app:ProbeApp",
    Kind.lift_guard: "edge.apps.lift_guard.app:LiftGuardApp",
    Kind.gate: "edge.apps.gate.app:GateApp",
    Kind.charger: "edge.apps.charger.app:ChargerApp",
    Kind.taxi_kiosk: "edge.apps.taxi_kiosk.app:TaxiKioskApp",
}


class AppNotFound(LookupError):
    """The kind has no (importable) App. The message names the kind and the reason in one line."""


def load_app(kind: Kind | str) -> type[App]:
    """The App class of a kind (imports its module on first use)."""
    from edge.apps.base import App

    try:
        k = Kind(kind)
    except ValueError:
        raise AppNotFound(f"unknown kind {kind!r} (allowed: {', '.join(x.value for x in Kind)})") from None
    target = APPS.get(k)
    if target is None:
        raise AppNotFound(f"kind {k.value!r} has no app registered in edge.apps.APPS")
    mod_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        if exc.name and (mod_name == exc.name or mod_name.startswith(exc.name + ".")):
            raise AppNotFound(f"no app is installed for kind {k.value!r} ({mod_name} does not exist)") from None
        raise AppNotFound(f"kind {k.value!r}: importing {mod_name} failed: {exc}") from exc
    except Exception as exc:
        raise AppNotFound(f"kind {k.value!r}: importing {mod_name} failed: {type(exc).__name__}: {exc}") from exc
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, App)):
        raise AppNotFound(f"kind {k.value!r}: {target} is not an edge.apps.base.App subclass")
    if getattr(cls, "kind", None) != k:
        raise AppNotFound(f"kind {k.value!r}: {target} declares kind {getattr(cls, 'kind', None)!r}")
    return cls
