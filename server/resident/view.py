"""How residents' pages say things: money in 元 from fen, times in Asia/Shanghai, durations, the tariff in plain
words and the charging receipt with the Beijing DB11 fee breakdown (unit price, energy, electricity fee,
service-fee unit price, service quantity, service fee, total), plus prepay and refund."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from linli.contract.charger import Tariff
from linli.i18n import SHANGHAI

T = Callable[..., str]


def yuan(fen: int | float | None) -> str:
    return f"{(fen or 0) / 100:.2f}"


def local(ts: datetime | None) -> str:
    return ts.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if ts is not None else "—"


def duration(seconds: float | None, lang: str) -> str:
    s = int(seconds or 0)
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    if lang == "en":
        return f"{h} h {m:02d} min" if h else f"{m} min {sec:02d} s"
    return f"{h} 小时 {m:02d} 分" if h else f"{m} 分 {sec:02d} 秒"


def hours(minutes: int, lang: str) -> str:
    if minutes % 60 == 0:
        h = minutes // 60
        return f"{h} h" if lang == "en" else f"{h} 小时"
    return f"{minutes} min" if lang == "en" else f"{minutes} 分钟"


def tariff_lines(tariff: Tariff, t: T) -> list[str]:
    if tariff.mode == "free":
        return [t("tar_free")]
    if tariff.mode == "energy_tou":
        lines = [t("tar_tou")] + [t("tar_band", start=f"{b.start:%H:%M}", end=f"{b.end:%H:%M}",
                                    yuan=f"{b.yuan_per_kwh:.2f}") for b in tariff.tou]
    else:
        lines = [t("tar_tiers")] + [t("tar_tier", w=x.max_w, yuan=f"{x.yuan_per_hour:.2f}") for x in tariff.tiers]
        lines.append(t("tar_tier_rule"))
    if tariff.min_fen:
        lines.append(t("tar_min", yuan=yuan(tariff.min_fen)))
    lines.append(t("tar_refund"))
    return lines


def receipt(co: Any, order: Any, tariff: Tariff, t: T, lang: str, refund_text: str) -> list[tuple[str, str]]:
    """The settled charge, field by field (label, value)."""
    kwh = (co.energy_wh or 0) / 1000
    rows: list[tuple[str, str]] = [
        (t("r_start"), local(co.started_at)), (t("r_end"), local(co.ended_at)),
        (t("r_duration"), duration(co.charged_s, lang)), (t("r_energy"), f"{kwh:.3f} kWh"),
        (t("r_mode"), t(f"m_{co.mode}")),
    ]
    total = co.amount_fen or 0
    if co.mode == "time_tiers":
        tier = next((x for x in tariff.tiers if x.max_w == co.tier_w), None) or tariff.tier_for(co.max_power_w or 0)
        minutes = math.ceil((co.charged_s or 0) / 60 - 1e-9)
        rows += [
            (t("r_tier"), t("r_tier_text", w=tier.max_w)),
            (t("r_tier_why"), t("r_tier_reason" if tariff.tier_for(co.max_power_w or 0).max_w == tier.max_w
                                else "r_tier_peak", p=f"{co.max_power_w or 0:.0f}", w=tier.max_w)),
            (t("r_elec_price"), t("r_included")), (t("r_elec_fee"), t("r_included")),
            (t("r_service_price"), t("r_per_hour", yuan=f"{tier.yuan_per_hour:.2f}")),
            (t("r_service_qty"), t("r_minutes", m=minutes)), (t("r_service_fee"), f"¥{yuan(total)}"),
        ]
    elif co.mode == "energy_tou":
        prices = sorted({b.yuan_per_kwh for b in tariff.tou})
        price = " / ".join(t("r_per_kwh", yuan=f"{p:.2f}") for p in prices)
        rows += [
            (t("r_elec_price"), price), (t("r_elec_fee"), f"¥{yuan(total)}"),
            (t("r_service_price"), t("r_per_kwh", yuan="0.00")), (t("r_service_qty"), f"{kwh:.3f} kWh"),
            (t("r_service_fee"), "¥0.00"),
        ]
    else:
        rows += [(t("r_elec_fee"), "¥0.00"), (t("r_service_fee"), f"¥{yuan(total)}")]
    rows += [
        (t("r_total"), f"¥{yuan(total)}"), (t("r_prepaid"), f"¥{yuan(order.amount_fen)}"),
        (t("r_refund"), refund_text),
        (t("r_reason"), t(f"reason_{co.stop_reason}") if co.stop_reason else "—"),
        (t("r_paid_by"), t("pay_sim") if order.provider == "sim" else t("pay_online")),
    ]
    return rows
