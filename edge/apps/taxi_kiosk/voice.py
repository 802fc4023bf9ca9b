"""Voice prompts: one for every screen, Mandarin first (then the other configured languages), through the HAL
speaker (espeak-ng on the Pi; recorded in simulation, where ``Speaker.history`` is what the resident heard)."""

from __future__ import annotations

from typing import Any

from edge.hal import Speaker
from linli.i18n import Lang

from .config import TaxiKioskConfig
from .texts import SCREEN, VOICE, eta_minutes, spell


def prompt(screen: str, info: dict[str, Any], note: str | None, cfg: TaxiKioskConfig, lang: Lang) -> str | None:
    """The sentence for a screen (None for screens that say nothing)."""
    place = cfg.place
    point = (place.pickup_point_en or place.pickup_point) if lang == "en" else place.pickup_point
    hotline = spell(cfg.hotline, lang)
    driver = info.get("driver") or {}
    plate = spell(driver.get("plate", ""), lang)
    if screen == "calling":
        return VOICE.t("calling_recall" if note in ("driver_cancelled", "driver_no_show") else "calling", lang)
    if screen == "assigned":
        colour = SCREEN.t(f"colour_{driver.get('car_colour', 'white')}", lang)
        return VOICE.t("assigned", lang, plate=plate, colour=colour, model=driver.get("car_model", ""),
                       surname=driver.get("surname", ""), min=eta_minutes(info.get("eta_s") or 60), point=point)
    if screen == "arriving":
        arrived = (info.get("distance_m") or 0) <= 30
        return VOICE.t("arrived" if arrived else "arriving", lang, plate=plate, point=point)
    if screen in ("idle", "picked_up", "cancelled", "no_show", "confirm_cancel", "phone", "offline"):
        return VOICE.t(screen, lang)
    if screen in ("no_driver", "unavailable", "limit"):
        return VOICE.t(screen, lang, hotline=hotline)
    return None


class Voice:
    def __init__(self, speaker: Speaker, cfg: TaxiKioskConfig) -> None:
        self.speaker = speaker
        self.cfg = cfg

    def langs(self, screen_lang: Lang) -> list[Lang]:
        """Configured languages, Mandarin first; a resident who switched the screen to English hears English."""
        return ["en"] if screen_lang == "en" else list(self.cfg.voice.langs)

    def say(self, screen: str, info: dict[str, Any], note: str | None, screen_lang: Lang) -> list[str]:
        """Speak the screen's prompt; returns what was queued (empty when voice is off or the screen is silent)."""
        if not self.cfg.voice.enabled:
            return []
        said = []
        for lang in self.langs(screen_lang):
            text = prompt(screen, info, note, self.cfg, lang)
            if text:
                self.speaker.say(text, lang)
                said.append(text)
        return said
