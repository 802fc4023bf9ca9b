"""What a device kind plugs into the agent runtime: an :class:`App` subclass and its config model.

A kind lives in ``edge/apps/<kind>/`` (``config.py``, ``app.py``, logic modules, ``page/``, ``sim.py``) and is
named in :data:`edge.apps.APPS`. The runtime builds the kind's config from the device YAML's ``app:`` section
(validated by ``App.config_model``, with the device's ``HalConfig`` in the validation context so that names of
relays and inputs can be checked), then calls ``App(ctx, cfg)``, ``start()``, and on the way out ``stop()``.

Rules every kind follows:

- Hardware only through ``ctx.hal``; events only through ``ctx.emit(model)`` with a payload model the kind declares
  in ``linli.contract.<kind>`` (type and severity come from the model); never an MQTT client of its own.
- Safety checks live in the app (in its command handlers and loops), not in the runtime's glue. A handler
  refuses with :class:`CommandRefused` (reported as ``cmd.refused``); any other exception is reported as a
  failed command and the agent keeps running.
- A loop calls ``ctx.watchdog.kick("<loop name>")`` at least every ``watchdog.timeout_s``; when it stops
  kicking, the runtime drops every relay to safe and raises an alarm.
- ``stop()`` leaves every relay in its safe state (the runtime also calls ``hal.all_relays_safe()`` first).
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol

from pydantic import AfterValidator, BaseModel, ValidationInfo

from linli.contract import CommandInfo, DeviceRef, Event, EventData, Kind, Scalar
from linli.i18n import Lang

if TYPE_CHECKING:
    from edge.hal import Hal
    from edge.runtime.clock import Clock
    from edge.runtime.metrics import Histogram
    from edge.runtime.watchdog import Watchdog


class CommandRefused(Exception):
    """Raised by a command handler that will not act (a safety check, a wrong state). The message says why."""


class Emit(Protocol):
    """Queue one event for the server: ``emit(model, blobs)``. The model's declaration (``model.EVENT``) gives the
    event type; ``model.event_severity()`` its severity. Blobs (JPEG snapshots) are published before the event."""

    def __call__(self, data: EventData, blobs: Sequence[bytes] = ()) -> Event: ...


@dataclass(frozen=True)
class CommandCall:
    """The command being handled right now (``ctx.current_command()`` inside a handler)."""

    id: str
    name: str
    by: str
    origin: Literal["mqtt", "local"]


@dataclass(frozen=True)
class CommandSpec:
    """One command of an app.

    ``handler(args)`` gets the validated ``args_model`` instance (or the raw ``dict`` without a model) and returns
    a JSON-able dict (the ``result`` of the ``CommandResult``) or None.
    """

    handler: Callable[[Any], Mapping[str, Any] | None]
    args_model: type[BaseModel] | None = None
    title: str = ""
    title_en: str = ""
    #: Offered as a safe test action on the local maintenance page (``POST /actions/<name>``).
    local: bool = False

    @classmethod
    def of(cls, info: CommandInfo, handler: Callable[[Any], Mapping[str, Any] | None]) -> CommandSpec:
        """The spec of a command the kind declares in its contract (argument model, human names, local test)."""
        return cls(handler, info.args, info.zh, info.en, info.local)


@dataclass
class AppContext:
    """What the runtime hands to an app."""

    ref: DeviceRef
    hal: Hal
    emit: Emit
    logger: logging.Logger
    data_dir: Path
    watchdog: Watchdog
    clock: Clock
    #: Set when the agent is stopping: loops wait on it instead of sleeping.
    stopping: threading.Event = field(default_factory=threading.Event)
    #: The command being handled (inside a handler), else None.
    current_command: Callable[[], CommandCall | None] = lambda: None
    #: Whether the MQTT link to the server is up right now (for apps that tell people about connectivity,
    #: e.g. a kiosk screen saying the network is down). Messages are queued in the outbox either way.
    link_up: Callable[[], bool] = lambda: True


class App(ABC):
    """The device logic of one kind."""

    kind: ClassVar[Kind]
    config_model: ClassVar[type[BaseModel]]

    def __init__(self, ctx: AppContext, cfg: Any) -> None:
        self.ctx = ctx
        self.cfg = cfg

    @abstractmethod
    def start(self) -> None:
        """Claim what it needs and start its loops/callbacks. Must not block."""

    @abstractmethod
    def stop(self) -> None:
        """Stop loops and leave every relay in its safe state. Must not raise, must not block for long."""

    def commands(self) -> dict[str, CommandSpec]:
        """Command name (``a-z0-9_``) → spec. Read once, after ``start()``."""
        return {}

    def gauges(self) -> dict[str, Scalar]:
        """Kind-specific figures for telemetry and /metrics (numbers, booleans or short strings)."""
        return {}

    def histograms(self) -> Mapping[str, Histogram]:
        """Timings as histograms for /metrics (``{"detect_seconds": Histogram}`` → ``linli_detect_seconds``)."""
        return {}

    def page_fragment(self, lang: Lang) -> str:
        """HTML shown on the local page's status page (already escaped). Forms may post to ``actions/<name>``
        for commands whose spec has ``local=True``."""
        return ""

    def apply_config(self, cfg: Any) -> None:
        """Take a new, already validated config (remote desired overrides). Raise to refuse; the old one stays."""
        self.cfg = cfg

    def state(self) -> str:
        """A short word for the local page and the status (e.g. ``idle``, ``holding``, ``fault``)."""
        return "running"

    def model_version(self) -> str | None:
        """Version of the detection model in use (vision kinds), for the device status."""
        return None


HalGroup = Literal["relays", "inputs", "cameras", "serial"]


def _hal_part(group: HalGroup) -> AfterValidator:
    return AfterValidator(lambda name, info: check_hal_part(info, group, name))


#: Field types for an app config's references to its device's hardware: the name must be a part of that group in
#: the device's ``hal:`` section (``open_relay: RelayName``; ``coin_input: InputName | None``).
RelayName = Annotated[str, _hal_part("relays")]
InputName = Annotated[str, _hal_part("inputs")]
CameraName = Annotated[str, _hal_part("cameras")]
SerialName = Annotated[str, _hal_part("serial")]


def check_hal_part(info: ValidationInfo, group: HalGroup, name: str) -> str:
    """For app config validators: ``name`` must be a part of ``group`` in the device's ``hal:`` section.

    The runtime validates the ``app:`` section with ``context={"hal": HalConfig}``; without that context (a
    plain ``model_validate``) the check is skipped.
    """
    hal = (info.context or {}).get("hal")
    if hal is None:
        return name
    parts = getattr(hal, group)
    if name not in parts:
        have = ", ".join(sorted(parts)) or "none"
        what = {"relays": "relay", "inputs": "input", "cameras": "camera", "serial": "serial port"}[group]
        raise ValueError(f"no {what} named {name!r} in hal.{group} (have: {have})")
    return name
