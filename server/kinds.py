"""What each device kind brings to the server, declared once, and the one loader that reads the declarations.

A kind's server package ``server/<kind>/`` says in its ``__init__.py`` which of the fixed parts it has::

    # server/gate/__init__.py
    KIND = KindSpec(Kind.gate, models=True, queries=True, ingest=True, api=True, pages=True, dashboard=True,
                    worker=True, templates=True, migrations=True)

Each part is a file (or folder) of that name with a fixed entry point:

==============  ==================================================================================================
``models``      ``models.py``: its tables (SQLAlchemy models on the shared ``Base``), imported before migrating
``queries``     ``queries.py``: the reads its API and pages share (no entry point; declared so the shape is known)
``ingest``      ``ingest.py``: ``register(registry: HandlerRegistry)`` adds its ingest handlers
``api``         ``api.py``: ``router`` (FastAPI) under ``/api/v1/<kind>``
``pages``       ``pages.py``: ``router`` of its pages; the GET route ``/<name>`` is its entry in the navigation
``dashboard``   ``dashboard.py``: ``register(dashboards: DashboardRegistry)`` adds its panels
``worker``      ``worker.py``: ``make_worker(server)`` returns its background part (``start()``/``stop()``)
``templates``   ``templates/<kind>/*.html``: its page templates, found beside the server's layout
``migrations``  ``migrations/``: its Alembic branch (``branch_labels = ("<kind>",)``, on top of the spine's 0001)
==============  ==================================================================================================

:class:`ServerKinds` imports only what is declared, so nothing is found by trying names, and a declared part that is
missing fails loudly at start-up. ``tests/test_shape.py`` checks that the declarations and the files agree.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from linli.contract import Kind

if TYPE_CHECKING:
    from fastapi import APIRouter

    from server.app import Server
    from server.dashboards.registry import DashboardRegistry
    from server.ingest.registry import HandlerRegistry

log = logging.getLogger(__name__)

SERVER_DIR = Path(__file__).resolve().parent
#: The parts a kind may declare, each a module ``server/<kind>/<part>.py``.
MODULE_PARTS = ("models", "queries", "ingest", "api", "pages", "dashboard", "worker")
#: The parts that are folders: ``server/<kind>/templates/<kind>/`` and ``server/<kind>/migrations/``.
FOLDER_PARTS = ("templates", "migrations")


class Worker(Protocol):
    """A kind's background part, started after the broker link and stopped before it."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class KindSpec:
    """The parts one device kind brings to the server (see the module's table)."""

    kind: Kind
    models: bool = False
    queries: bool = False
    ingest: bool = False
    api: bool = False
    pages: bool = False
    dashboard: bool = False
    worker: bool = False
    templates: bool = False
    migrations: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", Kind(self.kind))

    @property
    def package(self) -> str:
        return f"server.{self.kind.value}"

    @property
    def folder(self) -> Path:
        return SERVER_DIR / self.kind.value

    @property
    def parts(self) -> tuple[str, ...]:
        """The declared parts, in the table's order."""
        return tuple(f.name for f in fields(self) if f.name != "kind" and getattr(self, f.name))

    def has(self, part: str) -> bool:
        if part not in MODULE_PARTS and part not in FOLDER_PARTS:
            raise ValueError(f"unknown kind part {part!r}: one of {', '.join(MODULE_PARTS + FOLDER_PARTS)}")
        return bool(getattr(self, part))

    def module(self, part: str) -> ModuleType:
        """``server.<kind>.<part>``, imported; only for a declared module part."""
        if part not in MODULE_PARTS or not self.has(part):
            raise LookupError(f"{self.package} does not declare a {part!r} module")
        return importlib.import_module(f"{self.package}.{part}")

    @property
    def templates_dir(self) -> Path:
        return self.folder / "templates"

    @property
    def migrations_dir(self) -> Path:
        return self.folder / "migrations"


def _entry(module: ModuleType, name: str) -> Any:
    value = getattr(module, name, None)
    if value is None:
        raise TypeError(f"{module.__name__} has no {name}")
    return value


def declared(kind: Kind) -> KindSpec | None:
    """The ``KIND`` declared by ``server/<kind>/__init__.py``; None for a kind with no server package (probe)."""
    if not (SERVER_DIR / kind.value / "__init__.py").is_file():
        return None
    package = importlib.import_module(f"server.{kind.value}")
    spec = getattr(package, "KIND", None)
    if not isinstance(spec, KindSpec) or spec.kind != kind:
        raise TypeError(f"server/{kind.value}/__init__.py must declare KIND = KindSpec(Kind.{kind.value}, …)")
    return spec


class ServerKinds:
    """The device kinds this server runs, read from their declarations; every loader of the server goes through it."""

    def __init__(self, specs: Iterable[KindSpec]) -> None:
        self.specs: tuple[KindSpec, ...] = tuple(specs)

    @classmethod
    def load(cls, kinds: Iterable[Kind] = tuple(Kind)) -> ServerKinds:
        return cls(s for s in (declared(Kind(k)) for k in kinds) if s is not None)

    def __iter__(self) -> Iterator[KindSpec]:
        return iter(self.specs)

    def having(self, part: str) -> list[KindSpec]:
        return [s for s in self.specs if s.has(part)]

    def get(self, kind: Kind | str) -> KindSpec | None:
        return next((s for s in self.specs if s.kind == Kind(kind)), None)

    def import_models(self) -> None:
        for spec in self.having("models"):
            spec.module("models")

    def register_handlers(self, registry: HandlerRegistry) -> list[str]:
        """Each kind's ``ingest.register(registry)``; returns (and records in ``registry.loaded``) the modules."""
        for spec in self.having("ingest"):
            module = spec.module("ingest")
            _entry(module, "register")(registry)
            registry.loaded.append(module.__name__)
            log.info("ingest handlers loaded from %s", module.__name__)
        return registry.loaded

    def register_dashboards(self, dashboards: DashboardRegistry) -> list[str]:
        """Each kind's ``dashboard.register(dashboards)``; returns (and records) the modules."""
        for spec in self.having("dashboard"):
            module = spec.module("dashboard")
            _entry(module, "register")(dashboards)
            dashboards.loaded.append(module.__name__)
            log.info("dashboard panels loaded from %s", module.__name__)
        return dashboards.loaded

    def routers(self) -> list[APIRouter]:
        """The ``router`` of each kind's ``api`` and ``pages``."""
        return [_entry(spec.module(part), "router") for spec in self.specs for part in ("api", "pages")
                if spec.has(part)]

    def page_routers(self) -> list[tuple[Kind, APIRouter]]:
        return [(spec.kind, _entry(spec.module("pages"), "router")) for spec in self.having("pages")]

    def template_dirs(self) -> list[Path]:
        return [spec.templates_dir for spec in self.having("templates")]

    def migration_dirs(self) -> list[Path]:
        return [spec.migrations_dir for spec in self.having("migrations")]

    def make_workers(self, srv: Server, only: Iterable[Kind] | None = None) -> dict[str, Worker]:
        """Each kind's background worker (``worker.make_worker(server)``), by kind name; ``only``: those kinds."""
        wanted = None if only is None else {Kind(k) for k in only}
        out: dict[str, Worker] = {}
        for spec in self.having("worker"):
            if wanted is None or spec.kind in wanted:
                out[spec.kind.value] = _entry(spec.module("worker"), "make_worker")(srv)
        return out
