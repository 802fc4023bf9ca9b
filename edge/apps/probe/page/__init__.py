"""The probe's fragment of the local page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from linli.i18n import Catalog, Lang

_env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["html"]))

CATALOG = Catalog({
    "presses": ("按键次数", "Button presses"),
    "button": ("按键", "Button"),
    "pressed": ("按下", "pressed"),
    "released": ("松开", "released"),
    "output": ("输出继电器", "Output relay"),
    "on": ("吸合", "ON"),
    "off": ("断开", "off"),
    "pulse": ("脉冲 {s} 秒", "Pulse {s} s"),
    "set_on": ("保持吸合", "Hold on"),
    "set_off": ("断开", "Switch off"),
    "hint": ("测试：按键变化会上报事件；“保持吸合”最长 {max} 秒后自动断开。",
             "Test: button changes are reported as events; “Hold on” switches off by itself after {max} s."),
})


def render(lang: Lang, **ctx: Any) -> str:
    return _env.get_template("fragment.html").render(t=CATALOG.bind(lang), lang=lang, **ctx)
