"""The taxi provider adapter interface: how the dispatcher talks to a taxi platform.

A real platform (for Shanghai, 申程出行's partner API; elsewhere a fleet operator's) plugs in by implementing
:class:`TaxiProvider`; the built-in :class:`~server.taxi_kiosk.simfleet.SimFleet` implements it for the demo and
the tests. Calls are blocking; the dispatcher runs them in worker threads with its own time limit, retries failed
ones with back-off, and never blocks its loop on them. ``request`` must be idempotent by ``RideRequest.request_id``
(a retry after a timeout must not order a second car) — platforms call this the merchant's order number.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

from linli.contract.taxi_kiosk import Driver, Place


class ProviderError(Exception):
    """The platform refused or failed (HTTP 5xx, a malformed answer...). The message says what happened.
    ``permanent``: retrying cannot help (no platform configured, the account is blocked)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class ProviderTimeout(ProviderError):
    """The platform did not answer in time."""


@dataclass(frozen=True)
class RideRequest:
    request_id: str  #: idempotency key: order id + attempt number
    order_id: str
    place: Place
    elderly_priority: bool
    phone: str | None = None
    kiosk: str = ""  #: site/device, for the platform's records


RideState = Literal["searching", "assigned", "arriving", "picked_up", "driver_cancelled", "no_driver",
                    "passenger_no_show", "cancelled"]


@dataclass(frozen=True)
class RideStatus:
    state: RideState
    driver: Driver | None = None
    car_lat: float | None = None
    car_lon: float | None = None
    heading_deg: float = 0.0
    eta_s: int | None = None
    distance_m: int | None = None
    reason: str | None = None  #: e.g. "no_show" with driver_cancelled


class TaxiProvider(ABC):
    name: str = "provider"

    def start(self) -> None:  # noqa: B027 - optional hook
        """Start background work (connections, a simulation clock)."""

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Stop background work. Must not raise."""

    @abstractmethod
    def request(self, req: RideRequest) -> str:
        """Ask for a car at ``req.place``. Returns the platform's ride id. Idempotent by ``req.request_id``."""

    @abstractmethod
    def status(self, ride_id: str) -> RideStatus:
        """The ride's state now."""

    @abstractmethod
    def cancel(self, ride_id: str, reason: str) -> None:
        """Cancel a ride (a no-op for one already ended)."""


class NoProvider(TaxiProvider):
    """No platform connected: every request fails at once, so the kiosk shows the hotline straight away."""

    name = "none"

    def request(self, req: RideRequest) -> str:
        raise ProviderError("no taxi provider is configured (kinds.taxi_kiosk.provider: none)", permanent=True)

    def status(self, ride_id: str) -> RideStatus:
        raise ProviderError("no taxi provider is configured", permanent=True)

    def cancel(self, ride_id: str, reason: str) -> None:
        return None
