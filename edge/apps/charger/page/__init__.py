"""The charger's fragment of the local page: ports live, link health, recent bills, test start/stop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from linli.i18n import Catalog, Lang

_env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["html"]))

CATALOG = Catalog({
    "port": ("端口", "Port"),
    "state": ("状态", "State"),
    "power": ("功率", "Power"),
    "energy": ("本次电量", "Energy"),
    "temp": ("温度", "Temp."),
    "left": ("剩余", "Left"),
    "order": ("订单", "Order"),
    "links": ("链路", "Links"),
    "mcu": ("端口控制板", "Port controller (MCU)"),
    "meter": ("电表", "Meter"),
    "ok": ("正常", "OK"),
    "lost": ("失联", "LOST"),
    "none": ("未配置", "none"),
    "smoke": ("烟感报警：全部端口已断电", "SMOKE ALARM: every port is off"),
    "pile_power": ("整桩功率", "Pile power"),
    "meter_total": ("电表累计", "Meter total"),
    "pending": ("待确认结算", "Settlements awaiting the server"),
    "bills": ("最近结算", "Recent bills"),
    "amount": ("金额", "Amount"),
    "refund": ("退款", "Refund"),
    "reason": ("结束原因", "Stop reason"),
    "ack": ("服务器确认", "Server ack"),
    "start": ("测试启动", "Test start"),
    "stop": ("停止", "Stop"),
    "clear": ("清除故障", "Clear fault"),
    "tariff": ("计费", "Tariff"),
    "hint": ("测试启动为免费会话（记入审计）；插好充电器后通电。",
             "A test start is a free session (audited); power flows once a charger is plugged in."),
    "waiting_pay": ("已付款，等待插入充电器", "Paid, waiting for a plug"),
    "st_idle": ("空闲", "idle"), "st_plugged": ("已插入待支付", "plugged, unpaid"),
    "st_authorised": ("已授权待插入", "authorised, waiting for plug"), "st_charging": ("充电中", "charging"),
    "st_float": ("涓流/将满", "float (nearly full)"), "st_finished": ("已结束", "finished"),
    "st_fault": ("故障", "fault"),
    "r_full": ("充满自停", "full"), "r_unplugged": ("拔出", "unplugged"), "r_no_plug": ("未插入", "no plug"),
    "r_time_used": ("时间用完", "time used"), "r_money_used": ("金额用完", "money used"),
    "r_max_duration": ("超过最长时长", "max duration"), "r_user_stop": ("用户停止", "user stop"),
    "r_remote_stop": ("远程停止", "remote stop"), "r_local_stop": ("本地停止", "local stop"),
    "r_overload": ("端口过载", "overload"), "r_pile_overload": ("整桩过载", "pile overload"),
    "r_over_temperature": ("过温", "over-temperature"), "r_smoke": ("烟感", "smoke"),
    "r_meter_lost": ("电表失联", "meter lost"), "r_mcu_lost": ("控制板失联", "MCU lost"),
    "r_port_fault": ("端口故障", "port fault"), "r_sensor_fault": ("温度传感器故障", "sensor fault"),
    "r_power_restored": ("来电后结算", "power restored"),
    "m_time_tiers": ("按功率档计时", "time by power tier"), "m_energy_tou": ("按电量分时", "energy, time of use"),
    "m_coin_time": ("投币计时", "coin time"), "m_free": ("免费", "free"),
})


def _fmt_s(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def render(lang: Lang, pile: Any, journal: Any, cfg: Any) -> str:
    t = CATALOG.bind(lang)
    ports = []
    with pile.lock:
        for p in pile.ports:
            s = p.session
            ports.append({
                "n": p.number, "state": p.state, "state_text": t(f"st_{p.state}"),
                "power": p.power_w, "temp": p.temperature_c, "faults": sorted(p.faults),
                "energy": s.energy_wh if s else None,
                "left": _fmt_s(s.remaining_s(cfg.limits, s.tariff_model)) if s and s.state != "authorised" else "",
                "order": s.order_id if s else "", "busy": s is not None,
                "reason": t(f"r_{p.last_reason}") if p.last_reason else "",
            })
        view = {
            "mcu_ok": pile.mcu_ok, "mcu_info": pile.mcu_info, "mcu_error": pile.mcu.last_link_error,
            "meter": pile.meter, "meter_ok": pile.meter is not None and not pile.meter.lost(),
            "smoke": pile.smoke, "pile_power": pile.pile_power_w, "waiting_pay": pile.pending_payment is not None,
            "can_start": pile.can_start(),
        }
    bills = [{**b, "reason_text": t(f"r_{b['stop_reason']}")} for b in journal.recent_bills(8)]
    return _env.get_template("fragment.html").render(
        t=t, lang=lang, ports=ports, bills=bills, pending=journal.pending_count(),
        tariff_text=f"{t('m_' + cfg.tariff.mode)} · v{cfg.tariff.version}", **view)
