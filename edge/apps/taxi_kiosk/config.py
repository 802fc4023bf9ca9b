"""The ``app:`` section of a taxi kiosk: where it stands, its screen, its map, its time limits and its voice."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.apps.base import InputName
from linli.contract.taxi_kiosk import Place


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlaceConfig(_Section):
    """The kiosk's own location: the pick-up point of every order (residents never type an address)."""

    name: str = Field(min_length=1, max_length=64, title="Place name", description="Shown and sent to the driver, "
                      "e.g. 曹杨新村东门.")
    name_en: str = Field("", max_length=64, title="Place name (English)", description="Empty: the Chinese name.")
    pickup_point: str = Field(min_length=1, max_length=64, title="Pick-up point",
                              description="Where the resident waits (the taxi bay by the kiosk).")
    pickup_point_en: str = Field("", max_length=64, title="Pick-up point (English)",
                                 description="Empty: the Chinese text.")
    lat: float = Field(ge=-90, le=90, title="Latitude", description="WGS-84 latitude of the pick-up point.")
    lon: float = Field(ge=-180, le=180, title="Longitude", description="WGS-84 longitude of the pick-up point.")

    def to_place(self) -> Place:
        return Place(name=self.name, pickup_point=self.pickup_point, lat=self.lat, lon=self.lon)


class KioskPageConfig(_Section):
    """The touch screen's page (Chromium in kiosk mode on the device). It needs no password and can only do kiosk
    things (call, cancel, retry, leave a phone number), so by default only this machine can reach it."""

    host: str = Field("127.0.0.1", min_length=1, title="Listen address",
                      description="127.0.0.1 = only the kiosk's own browser (recommended).")
    port: int = Field(8690, ge=0, le=65535, title="Port", description="TCP port (0 = any free port).")


class ScreenConfig(_Section):
    """The physical screen, so that sizes (touch targets ≥ 60 dp, text ≥ 18 dp) can be checked where it matters."""

    width: int = Field(1080, ge=320, le=7680, title="Width (CSS px)", description="Viewport width in CSS pixels.")
    height: int = Field(1920, ge=320, le=7680, title="Height (CSS px)", description="Viewport height in CSS pixels.")
    dpr: float = Field(1.0, ge=0.5, le=4.0, title="Device pixel ratio",
                       description="Physical pixels per CSS pixel (1 dp = 1 CSS px at the screen's density).")


Point = tuple[float, float]


class Road(_Section):
    name: str = Field("", max_length=32, title="Name", description="Road name shown on the map (may be empty).")
    name_en: str = Field("", max_length=48, title="Name (English)", description="Empty: the Chinese name.")
    points: list[Point] = Field(min_length=2, max_length=200, title="Points (m)",
                                description="Polyline in metres from the pick-up point: [east, north] pairs.")
    major: bool = Field(False, title="Major road", description="Drawn wider.")


class Landmark(_Section):
    label: str = Field(min_length=1, max_length=24, title="Label", description="e.g. 菜场, 公交站, 3号楼.")
    label_en: str = Field("", max_length=32, title="Label (English)", description="Empty: the Chinese label.")
    x: float = Field(ge=-20_000, le=20_000, title="East (m)", description="Metres east of the pick-up point.")
    y: float = Field(ge=-20_000, le=20_000, title="North (m)", description="Metres north of the pick-up point.")


class MapConfig(_Section):
    """The kiosk's surroundings, drawn on the device (no internet, no map tiles)."""

    roads: list[Road] = Field(default_factory=list, max_length=100, title="Roads")
    landmarks: list[Landmark] = Field(default_factory=list, max_length=50, title="Landmarks")
    min_radius_m: float = Field(250, ge=50, le=5000, title="Smallest radius (m)",
                                description="The map shows at least this far around the kiosk.")
    max_radius_m: float = Field(3000, ge=100, le=50_000, title="Largest radius (m)",
                                description="A car farther away is drawn at the edge, pointing the right way.")

    @model_validator(mode="after")
    def _radii(self) -> Self:
        if self.min_radius_m > self.max_radius_m:
            raise ValueError("map.min_radius_m must not be larger than map.max_radius_m")
        return self


class TimingConfig(_Section):
    no_answer_s: float = Field(240, ge=2, le=3600, title="No answer (s)",
                               description="Calling and not one word from the server (network down, server away) "
                               "for this long: tell the resident to use the hotline, and cancel.")
    picked_up_show_s: float = Field(20, ge=1, le=600, title="'Have a good trip' shown (s)")
    cancelled_show_s: float = Field(8, ge=1, le=600, title="'Cancelled' shown (s)")
    failed_show_s: float = Field(120, ge=5, le=3600, title="'No driver' shown (s)",
                                 description="The no-driver / hotline screen goes back to the start after this long.")
    confirm_timeout_s: float = Field(20, ge=3, le=600, title="Question timeout (s)",
                                     description="'Cancel?' and the phone keypad close by themselves after this long.")
    sync_after_s: float = Field(45, ge=2, le=3600, title="Ask again after (s)",
                                description="An active order with no news from the server for this long asks the "
                                "server for its state again (also after every reconnect and at start).")
    voice_repeat_s: float = Field(30, ge=5, le=3600, title="Repeat 'car is here' (s)",
                                  description="While the car is arriving, its plate is announced again this often.")
    lang_reset_s: float = Field(120, ge=10, le=3600, title="Back to Chinese after (s)",
                                description="An English screen goes back to Chinese when idle this long.")


class VoiceConfig(_Section):
    enabled: bool = Field(True, title="Voice prompts", description="Speak every state (the speaker in hal).")
    langs: list[Literal["zh", "en"]] = Field(default_factory=lambda: ["zh"], min_length=1, max_length=2,
                                             title="Languages", description="Spoken in this order; Mandarin first.")


class TaxiKioskConfig(_Section):
    """A one-tap taxi screen at a compound entrance."""

    place: PlaceConfig = Field(title="Place", description="Where the kiosk and its taxi bay are.")
    button: InputName | None = Field("call_button", title="Physical button",
                               description="Input (in hal.inputs) of the big physical button; it does what the "
                               "screen's main button does. Empty: no physical button.")
    hotline: str = Field("96822", pattern=r"^[0-9][0-9-]{2,15}$", title="Taxi hotline",
                         description="Shown and spoken when no car can be found (Shanghai: 96822).")
    elderly_priority: bool = Field(True, title="Elderly priority",
                                   description="Ask the platform for its priority for passengers aged 60+.")
    allow_phone: bool = Field(True, title="Offer call-back number",
                              description="Offer an optional phone number for the driver (never required).")
    max_orders_per_hour: int = Field(20, ge=1, le=1000, title="Orders per hour",
                                     description="More calls than this in an hour are refused (pranks, ghost "
                                     "touches); the screen shows the hotline instead.")
    kiosk_page: KioskPageConfig = Field(default_factory=KioskPageConfig, title="Kiosk page")
    screen: ScreenConfig = Field(default_factory=ScreenConfig, title="Screen")
    map: MapConfig = Field(default_factory=MapConfig, title="Map")
    timing: TimingConfig = Field(default_factory=TimingConfig, title="Time limits")
    voice: VoiceConfig = Field(default_factory=VoiceConfig, title="Voice")
    loop_interval_s: float = Field(0.25, ge=0.01, le=5.0, title="Loop interval (s)",
                                   description="How often the kiosk checks its time limits and the network.")

