"""The kiosk's config (the example file loads; mistakes name the key) and its map (drawn from the config, the car
where the server says it is, far cars kept on the edge, labels escaped and never on top of each other)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from edge.apps.taxi_kiosk.app import TaxiKioskApp
from edge.apps.taxi_kiosk.config import MapConfig, TaxiKioskConfig
from edge.apps.taxi_kiosk.mapsvg import render_map
from edge.apps.taxi_kiosk.voice import prompt
from edge.runtime.config import ConfigError, load_config, parse_config
from linli.contract.taxi_kiosk import CarPosition

REPO = Path(__file__).resolve().parents[4]
EXAMPLE = REPO / "config" / "taxi_kiosk.yaml"
SVG = "{http://www.w3.org/2000/svg}"


def test_example_config_loads_and_mistakes_name_the_key() -> None:
    loaded = load_config(EXAMPLE)
    assert loaded.app_class is TaxiKioskApp
    cfg = loaded.app_cfg
    assert isinstance(cfg, TaxiKioskConfig) and cfg.hotline == "96822" and cfg.kiosk_page.host == "127.0.0.1"
    assert cfg.voice.langs == ["zh"] and cfg.map.roads and cfg.screen.width == 1080
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    doc["app"]["button"] = "big_red_button"
    with pytest.raises(ConfigError, match=r"app\.button: no input named 'big_red_button' in hal\.inputs"):
        parse_config(doc, "kiosk.yaml")
    doc["app"]["button"] = "call_button"
    doc["app"]["hotline"] = "call us"
    with pytest.raises(ConfigError, match=r"app\.hotline"):
        parse_config(doc, "kiosk.yaml")
    doc["app"]["hotline"] = "96822"
    doc["app"]["map"]["min_radius_m"] = 5000
    with pytest.raises(ConfigError, match="min_radius_m must not be larger"):
        parse_config(doc, "kiosk.yaml")


def _labels(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def _cfg() -> MapConfig:
    return TaxiKioskConfig.model_validate(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["app"]).map


def test_map_shows_the_car_where_the_server_says_and_scales_to_fit() -> None:
    near = render_map(_cfg(), CarPosition(dx_m=500, dy_m=-650, heading_deg=0), "zh", "沪AT1234")
    assert 'translate(500.0 650.0)' in near  # east 500 m, south 650 m (SVG y points down)
    labels = _labels(near)
    assert "沪A·T1234" in labels and "您在这里" in labels and "北 ↑" in labels
    r = float(re.search(r'viewBox="(-?[\d.]+)', near).group(1))  # type: ignore[union-attr]
    assert -r == pytest.approx(max(300, (500 ** 2 + 650 ** 2) ** 0.5 * 1.3), abs=0.1)
    far = render_map(_cfg(), CarPosition(dx_m=0, dy_m=20_000), "zh", "沪AT1234")
    assert "沪A·T1234 · 20.0 公里" in _labels(far)  # kept on the edge, with its distance
    assert render_map(_cfg(), None, "en").count("map-car") == 0
    assert "You are here" in _labels(render_map(_cfg(), None, "en"))


def test_map_labels_are_escaped_and_do_not_pile_up() -> None:
    cfg = MapConfig.model_validate({
        "roads": [{"name": "<b>路</b>", "points": [[-500, 0], [500, 0]]}],
        "landmarks": [{"label": "一", "x": 0, "y": -40}, {"label": "二", "x": 0, "y": -45},
                      {"label": "三", "x": 5, "y": -42}],
    })
    svg = render_map(cfg, None, "zh")
    assert "<b>" not in svg and "&lt;b&gt;路&lt;/b&gt;" in svg
    labels = _labels(svg)
    assert len([x for x in labels if x in "一二三"]) < 3  # three labels on one spot: not all of them drawn
    assert svg.count('class="map-label"') == len([x for x in labels if x not in ("您在这里",)])


def test_every_screen_has_a_prompt_in_both_languages() -> None:
    cfg = TaxiKioskConfig.model_validate(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["app"])
    info = {"driver": {"surname": "张", "plate": "沪AT1234", "car_colour": "teal", "car_model": "大众朗逸"},
            "eta_s": 200, "distance_m": 900}
    for screen in ("idle", "calling", "assigned", "arriving", "picked_up", "cancelled", "no_driver", "unavailable",
                   "no_show", "confirm_cancel", "phone", "limit", "offline"):
        for lang in ("zh", "en"):
            said = prompt(screen, info, None, cfg, lang)  # type: ignore[arg-type]
            assert said and "{" not in said, (screen, lang, said)
    assert "9，6，8，2，2" in (prompt("no_driver", {}, None, cfg, "zh") or "")
    assert "大约3分钟到" in (prompt("assigned", info, None, cfg, "zh") or "")
    assert "原来的司机取消了" in (prompt("calling", {}, "driver_cancelled", cfg, "zh") or "")
