"""The taxi kiosk's fragment of the (password-protected) maintenance page: what the screen shows, the order under
way, today's figures, the last orders, and two safe actions (cancel a stuck order, test the voice)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from linli.i18n import Catalog, Lang, fmt_time

from ..texts import fmt_plate, mask_phone

_env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["html"]))

CATALOG = Catalog({
    "screen": ("屏幕显示", "Screen shows"),
    "network": ("到服务器的网络", "Network to the server"),
    "online": ("正常", "up"),
    "offline": ("中断（叫车会排队，恢复后发出）", "down (calls wait in the queue)"),
    "kiosk_page": ("叫车屏页面", "Kiosk screen page"),
    "kiosk_page_down": ("未运行：{error}", "not running: {error}"),
    "order": ("当前订单", "Order under way"),
    "none": ("无", "none"),
    "today": ("今天", "Today"),
    "today_detail": ("叫车 {n} 次 · 上车 {ok} · 取消 {c} · 未叫到 {f}",
                     "{n} calls · {ok} picked up · {c} cancelled · {f} failed"),
    "recent": ("最近订单", "Recent orders"),
    "time": ("时间", "Time"),
    "state": ("状态", "State"),
    "plate": ("车牌", "Plate"),
    "phone": ("电话", "Phone"),
    "cancel": ("取消当前订单", "Cancel the current order"),
    "test_voice": ("测试语音", "Test the voice"),
    "st_idle": ("待机", "idle"), "st_calling": ("叫车中", "calling"), "st_requested": ("已发出", "sent"),
    "st_searching": ("找车中", "searching"), "st_assigned": ("已派车", "driver on the way"),
    "st_arriving": ("即将到达", "arriving"), "st_picked_up": ("已上车", "picked up"),
    "st_cancelled": ("已取消", "cancelled"), "st_no_driver": ("无车", "no driver"),
    "st_unavailable": ("服务不可用", "unavailable"), "st_no_show": ("未见乘客", "no-show"),
    "st_confirm_cancel": ("询问是否取消", "asking to cancel"), "st_phone": ("输入电话", "phone keypad"),
    "st_limit": ("次数过多", "too many calls"),
    "hint": ("“取消当前订单”用于卡住的订单（会通知服务器）；“测试语音”播放当前屏幕的提示。",
             "“Cancel” is for a stuck order (the server is told); “Test the voice” plays the current screen's prompt."),
})


def render(lang: Lang, **ctx: Any) -> str:
    t = CATALOG.bind(lang)
    return _env.get_template("fragment.html").render(
        t=t, lang=lang, plate=fmt_plate, mask=mask_phone, st=lambda state: t(f"st_{state}"),
        when=lambda ts: fmt_time(datetime.fromtimestamp(ts, UTC)) if ts else "—", **ctx)
