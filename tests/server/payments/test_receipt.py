"""The charging receipt says field by field what was billed (Beijing DB11: unit price, energy, electricity fee,
service-fee unit price, service quantity, service fee, total) and why the power band is what it is — also when a
brief peak did not raise the band (the pile bills the sustained power)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from edge.apps.charger.tariff import Tariff
from server.resident.messages import MESSAGES
from server.resident.view import receipt, tariff_lines


def t(key: str, **kw: object) -> str:
    return MESSAGES[key][0].format(**kw) if kw else MESSAGES[key][0]


def bill(**over: object) -> SimpleNamespace:
    doc = {"started_at": datetime(2026, 12, 5, 12, 0, tzinfo=UTC),
           "ended_at": datetime(2026, 12, 5, 14, 30, tzinfo=UTC),
           "charged_s": 9000, "energy_wh": 310.0, "mode": "time_tiers", "max_power_w": 130.0, "tier_w": 200,
           "amount_fen": 63, "stop_reason": "full"}
    return SimpleNamespace(**{**doc, **over})


ORDER = SimpleNamespace(amount_fen=1000, provider="sim")


def test_time_tiers_receipt_has_every_db11_field_in_shanghai_time() -> None:
    rows = dict(receipt(bill(), ORDER, Tariff(), t, "zh", "已退回 ¥9.37"))
    assert rows["开始时间"] == "2026-12-05 20:00:00" and rows["结束时间"] == "2026-12-05 22:30:00"
    assert rows["充电时长"] == "2 小时 30 分" and rows["充电电量"] == "0.310 kWh"
    assert rows["功率档位"] == "不超过 200 瓦" and "最高功率为 130 瓦" in rows["档位依据"]
    assert rows["电费单价"] == "已含在服务费中" and rows["服务费单价"] == "0.25 元/小时"
    assert rows["服务量"] == "150 分钟" and rows["服务费"] == rows["合计"] == "¥0.63"
    assert rows["预付"] == "¥10.00" and rows["退款"] == "已退回 ¥9.37" and rows["结束原因"] == "已充满，自动停止"


def test_a_brief_peak_is_explained_when_the_band_stayed_low() -> None:
    rows = dict(receipt(bill(max_power_w=450.0, tier_w=200), ORDER, Tariff(), t, "zh", "无"))
    assert rows["功率档位"] == "不超过 200 瓦" and "短时峰值" in rows["档位依据"] and "450" in rows["档位依据"]


def test_energy_receipt_splits_electricity_and_service_fee() -> None:
    tariff = Tariff(mode="energy_tou")
    rows = dict(receipt(bill(mode="energy_tou", tier_w=None, amount_fen=37), ORDER, tariff, t, "zh", "无"))
    assert rows["电费单价"] == "0.60 元/度 / 1.20 元/度" and rows["电费"] == "¥0.37"
    assert rows["服务费"] == "¥0.00" and rows["合计"] == "¥0.37" and "功率档位" not in rows
    assert any("22:00–08:00：每度电 0.60 元" in line for line in tariff_lines(tariff, t))
