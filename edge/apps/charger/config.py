"""The ``app:`` section of a charging pile."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from edge.apps.base import InputName, SerialName
from edge.hal.cardreader import CardError, CardFormat, normalise_card

from .tariff import Tariff


class MeterConfig(BaseModel):
    """The pile's energy meter on the feeder (DL/T 645 or Modbus RTU)."""

    model_config = ConfigDict(extra="forbid")
    protocol: Literal["dlt645", "modbus"] = Field("dlt645", title="Protocol")
    serial: SerialName = Field("meter", title="Serial port", description="Name of the port in hal.serial.")
    address: str = Field("000000001234", title="DL/T 645 address", description="12 digits (dlt645 only).")
    map: str = Field("ddsu666", title="Modbus register map",
                     description="A shipped map (ddsu666, dtsu666) or the path of a YAML map (modbus only).")
    device_id: int | None = Field(None, ge=1, le=247, title="Modbus device id (default: the map's)")
    timeout_s: float = Field(0.5, gt=0, le=10, title="Answer timeout (s)")
    retries: int = Field(1, ge=0, le=5, title="Retries per read")
    busy_retries: int = Field(3, ge=0, le=10, title="Retries when busy (Modbus)",
                              description="A 'device busy', 'acknowledge' or gateway answer is asked again this "
                                          "many times, waiting busy_backoff_s, then twice that...")
    busy_backoff_s: float = Field(0.05, ge=0, le=2, title="First wait when busy (s)")
    interval_s: float = Field(2.0, gt=0, le=300, title="Read every (s)")
    lost_after_s: float = Field(15.0, gt=0, le=600, title="Lost after (s)",
                                description="No good reading for this long: the meter is lost (an alarm; "
                                            "charging goes on, billed and protected by the port controller).")
    own_w: float = Field(20.0, ge=0, le=500, title="Pile's own use up to (W)",
                         description="What the pile itself draws (controller, display, standby): the meter may "
                                     "read up to this much above the ports' sum.")
    balance_tolerance_w: float = Field(10.0, ge=0, le=1000, title="Balance tolerance (W)",
                                       description="Meter vs ports: this much either way, or balance_tolerance_pct "
                                                   "of the ports' sum if more, is measurement error.")
    balance_tolerance_pct: float = Field(5.0, ge=0, le=50, title="Balance tolerance (%)")
    balance_confirm_s: float = Field(300.0, ge=0, le=24 * 3600, title="Power gap persists for (s)",
                                     description="A gap between the meter's power and the ports' sum outside the "
                                                 "tolerance this long is a fault alarm (and as long to clear).")
    balance_window_s: float = Field(3600.0, ge=60, le=7 * 24 * 3600, title="Energy compared over (s)",
                                    description="The meter's energy and the ports' counters are compared over "
                                                "windows this long.")



class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port_max_w: float = Field(600.0, gt=0, le=3500, title="Port limit (W)")
    pile_max_w: float = Field(6000.0, gt=0, le=30000, title="Pile limit (W)")
    over_temp_c: float = Field(90.0, gt=30, le=150, title="Over-temperature (°C)")
    overload_confirm_s: float = Field(2.0, ge=0, le=60, title="Overload confirmation (s)",
                                      description="Power above the limit for this long (inrush is shorter).")
    full_w: float = Field(15.0, ge=1, le=255, title="Full below (W)",
                          description="Power below this counts as float (the battery is full).")
    float_s: float = Field(7200.0, ge=0, le=6 * 3600, title="Float time (s)",
                           description="After this long in float the session ends as full.")
    unplug_w: float = Field(2.0, ge=0, le=50, title="Removed below (W)")
    unplug_s: float = Field(120.0, ge=1, le=3600, title="Removed after (s)",
                            description="Power below unplug_w this long: the charger was taken away.")
    wait_plug_s: float = Field(120.0, ge=5, le=3600, title="Wait for plug (s)")
    max_session_s: float = Field(8 * 3600.0, ge=60, le=24 * 3600, title="Longest session (s)",
                                 description="Safety rule: no charge longer than this (8 h).")


class ChargerConfig(BaseModel):
    """An e-bike charging pile: the port MCU, a meter, optional card reader and coin slot, limits, tariff."""

    model_config = ConfigDict(extra="forbid")
    ports: int = Field(10, ge=1, le=17, title="Ports", description="Outlets on this pile (as the MCU reports).")
    mcu_serial: SerialName = Field("mcu", title="MCU serial port", description="Name of the MCU's port in hal.serial.")
    mcu_timeout_s: float = Field(0.25, gt=0, le=5, title="MCU answer timeout (s)")
    mcu_lost_after_s: float = Field(3.0, gt=0, le=120, title="MCU lost after (s)",
                                    description="No answer for this long: the MCU is lost (ports off).")
    mcu_watchdog_s: int = Field(10, ge=0, le=600, title="MCU watchdog (s)",
                                description="The MCU drops every relay if the agent is silent this long.")
    meter: MeterConfig | None = Field(default_factory=MeterConfig, title="Meter (null: none)")
    card_serial: SerialName | None = Field(None, title="Card reader serial port",
                                    description="hal.serial port of an IC card reader sending one card id per line.")
    coin_input: InputName | None = Field(None, title="Coin input", description="hal.inputs input pulsed once per coin.")
    coin_window_s: float = Field(3.0, gt=0, le=60, title="Coin window (s)",
                                 description="Coins inserted within this time make one payment.")
    card_prepay_fen: int = Field(500, ge=0, le=100_000, title="Card prepay (fen)",
                                 description="Amount held from a card for a session; the unused part is refunded.")
    card_format: CardFormat = Field(default_factory=CardFormat, title="Card number format",
                                    description="How the reader writes card numbers (edge/hal/cardreader.py).")
    cards_allowed: list[str] | None = Field(None, title="Cards allowed",
                                            description="Card ids accepted offline (null: any card); written in "
                                                        "any form a reader sends, kept as the card's identity.")
    limits: Limits = Field(default_factory=Limits)
    tariff: Tariff = Field(default_factory=Tariff)
    poll_interval_s: float = Field(1.0, gt=0, le=10, title="Poll every (s)")
    journal_interval_s: float = Field(5.0, gt=0, le=60, title="Journal running sessions every (s)")
    resume_within_s: float = Field(600.0, ge=0, le=24 * 3600, title="Resume after restart within (s)",
                                   description="An agent back within this long resumes a session still plugged; "
                                               "otherwise the session is settled (power_restored).")
    settle_resend_s: float = Field(30.0, gt=0, le=3600, title="Resend settlement every (s)",
                                   description="Until the server acknowledges it (settle_ack).")



    @field_validator("cards_allowed")
    @classmethod
    def _cards(cls, v: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if v is None:
            return None
        fmt = info.data.get("card_format") or CardFormat()
        try:
            return [normalise_card(c, fmt) for c in v]
        except CardError as exc:
            raise ValueError(f"cards_allowed: {exc}") from None


    @model_validator(mode="after")
    def _check(self) -> ChargerConfig:
        if self.limits.port_max_w > self.limits.pile_max_w:
            raise ValueError("limits: port_max_w cannot be above pile_max_w")
        if self.limits.unplug_w >= self.limits.full_w:
            raise ValueError("limits: unplug_w must be below full_w")
        return self
