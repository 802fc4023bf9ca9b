"""The gate's fragment of the local page: lanes (state, loop, the read waiting for the guard with its plate image,
manual open with a reason, cash payment), last passages with plate crops, the door, and the cached lists."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from linli.gate.fees import yuan
from linli.gate.plates import COLOUR_NAMES_ZH, display
from linli.i18n import Catalog, Lang, fmt_time

_env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["html"]))

CATALOG = Catalog({
    "lanes": ("车道", "Lanes"),
    "entry": ("入口", "Entry"),
    "exit": ("出口", "Exit"),
    "state_closed": ("闸杆落下", "arm down"),
    "state_open": ("闸杆抬起", "arm up"),
    "state_vehicle": ("车辆在地感上", "vehicle on loop"),
    "state_closing": ("正在落杆", "closing"),
    "loop": ("地感", "Loop"),
    "occupied": ("有车", "occupied"),
    "free": ("无车", "free"),
    "waiting": ("待处理", "Waiting"),
    "pending_guard": ("等待保安确认", "waiting for the guard"),
    "pending_pay": ("待缴费", "fee due"),
    "fee_due": ("应收 ¥{fee}", "Due ¥{fee}"),
    "no_plate": ("无牌/未识别", "no plate / unreadable"),
    "reason": ("原因", "Reason"),
    "reason_ph": ("必填：如 访客登记、车牌污损", "required: e.g. visitor registered, plate dirty"),
    "open": ("开闸放行", "Open"),
    "deny": ("拒绝", "Refuse"),
    "cash": ("现金收费放行", "Cash paid: open"),
    "close": ("落闸", "Close"),
    "recent": ("最近通行", "Recent passages"),
    "guard_alerts": ("保安警报", "Guard alerts"),
    "guard_alerts_note": ("在服务器的道闸页面确认和清除。", "Acknowledge and clear them on the server's gate page."),
    "time": ("时间", "Time"),
    "plate": ("车牌", "Plate"),
    "decision": ("结果", "Decision"),
    "image": ("车牌图", "Plate image"),
    "fee": ("费用", "Fee"),
    "none_yet": ("暂无通行记录", "No passages yet"),
    "d_open": ("放行", "opened"),
    "d_deny": ("拒绝", "refused"),
    "d_guard": ("待保安", "guard"),
    "d_pay": ("待缴费", "fee due"),
    "d_manual": ("人工放行", "manual open"),
    "lists": ("名单缓存", "Cached lists"),
    "version": ("版本", "Version"),
    "l_resident": ("业主车辆", "Residents"),
    "l_visitor": ("访客", "Visitors"),
    "l_blacklist": ("黑名单", "Blacklist"),
    "l_card": ("门禁卡", "Cards"),
    "inside": ("场内车辆", "Inside"),
    "temporary_inside": ("临时车 {n}/{cap}", "temporary {n}/{cap}"),
    "tariff": ("收费：免费 {free} 分钟，每小时 ¥{hour}，每日封顶 ¥{cap}",
               "Tariff: {free} min free, ¥{hour}/h, ¥{cap} per day max"),
    "door": ("门禁", "Door"),
    "unlocked": ("已开锁", "unlocked"),
    "locked": ("已上锁", "locked"),
    "fire": ("消防联动：门已常开", "FIRE ALARM: door held unlocked"),
    "door_open": ("门开着", "door open"),
    "door_closed": ("门关着", "door closed"),
    "unlock": ("远程开门", "Unlock"),
    "lpr": ("车牌相机推送地址", "LPR camera push URL"),
})

REASONS_ZH = {"resident": "业主", "visitor": "访客", "temporary": "临时车", "blacklist": "黑名单",
              "blacklist_suspect": "疑似黑名单", "lot_full": "车位已满", "no_plate": "无牌", "unreadable": "无法识别",
              "free_period": "免费时段", "paid": "已缴费", "fee_due": "待缴费", "no_entry_record": "无入场记录",
              "guard_open": "保安放行", "camera_offline_record": "相机离线记录"}


def _when(value: datetime | str | None) -> str:
    return fmt_time(datetime.fromisoformat(value) if isinstance(value, str) else value)


def render(lang: Lang, **ctx: Any) -> str:
    return _env.get_template("fragment.html").render(
        t=CATALOG.bind(lang), lang=lang, yuan=yuan, display=display, when=_when,
        colour=lambda c: COLOUR_NAMES_ZH.get(c, c) if lang == "zh" else c,
        why=lambda r: REASONS_ZH.get(r, r) if lang == "zh" else r.replace("_", " "), **ctx)
