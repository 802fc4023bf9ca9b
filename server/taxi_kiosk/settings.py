"""``kinds.taxi_kiosk`` in the server's YAML: which provider dispatches, and the dispatcher's time limits."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from server.settings import SettingsError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SimFleetSettings(_Section):
    """The built-in simulated fleet: taxis on a road grid around every pick-up point that asks."""

    taxis_per_area: int = Field(12, ge=0, le=1000, description="free taxis kept within spawn_radius_m of a pick-up")
    spawn_radius_m: float = Field(2500, ge=100, le=20_000, description="where new taxis appear around a pick-up")
    grid_m: float = Field(200, ge=20, le=2000, description="road spacing of the grid the taxis drive on")
    speed_mps: float = Field(8.0, gt=0, le=40, description="driving speed (8 m/s ≈ 29 km/h in town)")
    time_scale: float = Field(1.0, gt=0, le=1000, description="simulated seconds per real second (demo: faster)")
    accept_prob: float = Field(0.85, ge=0, le=1, description="a driver offered an order accepts it")
    decide_s: tuple[float, float] = Field((3.0, 12.0), description="how long a driver takes to accept or decline")
    driver_cancel_prob: float = Field(0.03, ge=0, le=1, description="an accepted driver cancels on the way")
    driver_no_show_prob: float = Field(0.02, ge=0, le=1, description="an accepted driver stops coming (no-show)")
    passenger_no_show_prob: float = Field(0.03, ge=0, le=1, description="nobody gets in at the pick-up point")
    arriving_m: float = Field(200, ge=10, le=2000, description="closer than this: 'arriving'")
    board_after_s: float = Field(40, ge=0, le=3600, description="after the car arrives, the passenger gets in")
    wait_at_pickup_s: float = Field(300, ge=1, le=3600, description="a driver waits this long for a passenger")
    trip_s: float = Field(900, ge=1, le=86_400, description="a taxi is busy this long after a pick-up")
    error_rate: float = Field(0.0, ge=0, le=1, description="share of calls that fail (platform 5xx)")
    timeout_rate: float = Field(0.0, ge=0, le=1, description="share of calls that hang (platform timeouts)")
    hang_s: float = Field(30.0, ge=0, le=600, description="how long a hanging call hangs")
    tick_s: float = Field(0.2, gt=0, le=5, description="real seconds between simulation steps")
    seed: int | None = Field(None, description="random seed (tests, benchmarks); empty: random")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not 0 <= self.decide_s[0] <= self.decide_s[1]:
            raise ValueError("decide_s must be [min, max] with 0 <= min <= max")
        return self


class TaxiSettings(_Section):
    """Dispatch of kiosk orders."""

    provider: Literal["none", "sim"] = Field(
        "none", description="none: no platform connected (every order ends 'unavailable' at once, the kiosk shows "
        "the hotline); sim: the built-in simulated fleet (demo, tests)")
    search_timeout_s: float = Field(180, ge=1, le=3600, description="no driver within this long: 'no_driver'")
    max_attempts: int = Field(3, ge=1, le=20, description="searches per order (a driver who cancels starts another)")
    provider_timeout_s: float = Field(5.0, gt=0, le=120, description="a provider call taking longer has failed")
    poll_interval_s: float = Field(2.0, gt=0, le=60, description="how often an order's ride is checked")
    retry_initial_s: float = Field(1.0, gt=0, le=60, description="first wait after a failed provider call")
    retry_max_s: float = Field(15.0, gt=0, le=600, description="longest wait between failed provider calls")
    push_min_interval_s: float = Field(3.0, ge=0, le=600,
                                       description="ETA/position updates to a kiosk at most this often")
    push_ttl_s: float = Field(120, ge=5, le=3600, description="an order_update command expires after this long")
    tick_s: float = Field(0.25, gt=0, le=10, description="dispatcher loop period (it also wakes on new orders)")
    lease_s: float = Field(20, ge=1, le=600, description="an order claimed by a server worker stays with it this "
                           "long without renewal (several workers share the orders)")
    workers: int = Field(8, ge=1, le=256, description="threads calling the provider")
    sim: SimFleetSettings = Field(default_factory=SimFleetSettings)


def taxi_settings(kinds: dict[str, dict[str, Any]]) -> TaxiSettings:
    """Validate ``kinds.taxi_kiosk``; a SettingsError names the key and what is wrong."""
    try:
        return TaxiSettings.model_validate(kinds.get("taxi_kiosk") or {})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(x) for x in ("kinds", "taxi_kiosk", *err["loc"]))
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"{key}: {msg}")
        raise SettingsError("\n".join(lines)) from None
