"""Screens as HTML (Jinja2, autoescaped): the whole page, and the body that the page swaps in when the state moves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from linli.contract.taxi_kiosk import CarPosition

from ..config import TaxiKioskConfig
from ..mapsvg import render_map
from ..orders import Snapshot
from ..texts import SCREEN, eta_minutes, fmt_distance, fmt_plate, mask_phone

HERE = Path(__file__).parent
_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


class Renderer:
    def __init__(self, cfg: TaxiKioskConfig) -> None:
        self.cfg = cfg
        #: the map's width on the screen (CSS px), as the page last measured it; until then, from the screen's size
        self.map_px: float | None = None

    def map_width(self) -> float:
        if self.map_px is not None:
            return self.map_px
        w, h = self.cfg.screen.width, self.cfg.screen.height
        return min(w - 80, 0.52 * h, 920) if h >= w else min(0.56 * h, 0.44 * w)

    def context(self, snap: Snapshot, map_px: float | None = None) -> dict[str, Any]:
        cfg, lang, o = self.cfg, snap.lang, snap.order
        t = SCREEN.bind(lang)
        place = cfg.place
        ctx: dict[str, Any] = {
            "t": t, "lang": lang, "html_lang": "zh-Hans" if lang == "zh" else "en", "screen": snap.screen,
            "version": snap.version, "online": snap.online, "hotline": cfg.hotline,
            "place_name": (place.name_en or place.name) if lang == "en" else place.name,
            "pickup_point": (place.pickup_point_en or place.pickup_point) if lang == "en" else place.pickup_point,
            "allow_phone": cfg.allow_phone, "order": o, "since": int(o.created) if o else 0,
            "now": int(snap.now), "note": o.note if o else None,
            "phone_masked": mask_phone(o.phone) if o and o.phone else None,
        }
        info = o.info if o is not None else {}
        driver = info.get("driver") or None
        if driver:
            ctx["driver"] = driver
            ctx["plate"] = fmt_plate(driver["plate"])
            colour = t(f"colour_{driver['car_colour']}")
            # the platform names models in Chinese: the English screen says "a blue taxi"
            ctx["car_text"] = f"{colour} {driver.get('car_model', '')}".strip() if lang == "zh" else \
                t("taxi_of_colour", colour=colour)
        eta, dist = info.get("eta_s"), info.get("distance_m")
        ctx["arrived"] = dist is not None and dist <= 30
        if ctx["arrived"]:
            ctx["eta_text"] = t("at_bay")
        elif eta is not None:
            ctx["eta_text"] = t("eta_now") if eta < 45 else t("eta", min=eta_minutes(eta))
        if dist is not None and not ctx["arrived"]:
            ctx["distance_text"] = t("distance", dist=fmt_distance(dist, lang))
        if snap.screen in ("assigned", "arriving"):
            car = CarPosition.model_validate(info["car"]) if info.get("car") else None
            ctx["map_svg"] = Markup(render_map(cfg.map, car, lang, driver["plate"] if driver else "",
                                               map_px or self.map_width()))
        return ctx

    def body(self, snap: Snapshot, map_px: float | None = None) -> str:
        return _env.get_template("body.html").render(**self.context(snap, map_px))

    def page(self, snap: Snapshot) -> str:
        ctx = self.context(snap)
        return _env.get_template("page.html").render(body=Markup(_env.get_template("body.html").render(**ctx)), **ctx)
