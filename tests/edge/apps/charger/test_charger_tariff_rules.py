"""Prices, exact to the fen, at every edge (pure functions of ``edge/apps/charger/tariff.py``; no pile, no clock).

Rounding rules, decided on purpose and pinned here:
- ``time_tiers``: every minute started is billed; ``元/h × minutes / 60`` is rounded half up to the fen (四舍五入).
- ``energy_tou``: energy is priced at the half-hour band (Asia/Shanghai) it was drawn in; a band's start belongs to it,
  its end to the next band; costs accumulate in milli-fen (see test_charger_session_rules.py for the rounding).
- a prepayment covers the whole minutes whose bill is at most the prepayment.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, time

import pytest

from edge.apps.charger.tariff import (
    PowerTier,
    Tariff,
    TouBand,
    energy_cost_mfen,
    seconds_affordable,
    seconds_covered,
    time_cost_fen,
)

#: Half-hour bands with a different price each, one of them across midnight.
BANDS = Tariff(mode="energy_tou", tou=[
    TouBand(start=time(7, 30), end=time(8, 0), yuan_per_kwh=0.5),
    TouBand(start=time(8, 0), end=time(11, 30), yuan_per_kwh=1.0),
    TouBand(start=time(11, 30), end=time(12, 0), yuan_per_kwh=1.5),
    TouBand(start=time(12, 0), end=time(23, 30), yuan_per_kwh=0.8),
    TouBand(start=time(23, 30), end=time(7, 30), yuan_per_kwh=0.3),
])


def shanghai(h: int, m: int, s: float = 0.0) -> float:
    """Epoch seconds of 2026-11-21 h:m:s in Asia/Shanghai (UTC+8)."""
    return datetime(2026, 11, 21, 0, 0, tzinfo=UTC).timestamp() + (h - 8) * 3600 + m * 60 + s


# ------------------------------------------------------------------------------------------------- time tiers
@pytest.mark.parametrize(("charged_s", "minutes"), [
    (0, 0), (-5, 0), (0.5, 1), (1, 1), (59.999, 1), (60, 1), (60.0000000001, 1), (60.001, 2), (61, 2),
    (119, 2), (120, 2), (121, 3), (3600, 60), (3601, 61),
])
def test_every_minute_started_is_billed(charged_s: float, minutes: int) -> None:
    t = Tariff(tiers=[PowerTier(max_w=1000, yuan_per_hour=6.0)])  # 10 fen a minute: the fen are the minutes
    assert time_cost_fen(t, charged_s, 500.0) == minutes * 10


@pytest.mark.parametrize(("yuan_per_hour", "minutes", "fen"), [
    (0.25, 1, 0),  # 0.4167 → 0
    (0.25, 2, 1),  # 0.8333 → 1
    (0.25, 6, 3),  # 2.5 → 3 (half up, not to even)
    (0.25, 18, 8),  # 7.5 → 8
    (0.3, 1, 1),  # 0.5 → 1
    (0.5, 150, 125),
    (1.5, 1, 3),  # 2.5 → 3
    (1.5, 3, 8),  # 7.5 → 8
    (0.35, 7, 4),  # 4.0833 → 4
    (0.35, 9, 5),  # 5.25 → 5
    (0.0, 600, 0),
])
def test_time_cost_rounds_half_up_to_the_fen(yuan_per_hour: float, minutes: int, fen: int) -> None:
    t = Tariff(tiers=[PowerTier(max_w=2500, yuan_per_hour=yuan_per_hour)])
    assert time_cost_fen(t, minutes * 60, 100.0) == fen


@pytest.mark.parametrize(("watts", "fen_per_hour"), [
    (0.0, 25), (200.0, 25), (200.01, 35), (300.0, 35), (300.01, 50), (500.0, 50), (800.0, 80), (800.5, 100),
    (1000.0, 100), (1500.0, 150), (2000.0, 200), (2500.0, 250), (2500.1, 250), (9999.0, 250),
])
def test_the_tier_is_the_first_whose_limit_the_power_does_not_exceed(watts: float, fen_per_hour: int) -> None:
    t = Tariff()
    assert time_cost_fen(t, 3600, watts) == fen_per_hour
    assert seconds_affordable(t, fen_per_hour, watts) == pytest.approx(3600.0)


def test_seconds_affordable_is_proportional_and_free_tiers_last_for_ever() -> None:
    t = Tariff()
    assert seconds_affordable(t, 100, 450.0) == 7200.0  # 0.5 元/h: 1 元 = 2 h
    assert seconds_affordable(t, 0, 450.0) == 0.0
    assert seconds_affordable(t, 1, 100.0) == 144.0  # 0.25 元/h
    free = Tariff(tiers=[PowerTier(max_w=1000, yuan_per_hour=0.0)])
    assert seconds_affordable(free, 100, 450.0) == math.inf
    assert seconds_covered(free, 100, 450.0) == math.inf


@pytest.mark.parametrize(("yuan_per_hour", "fen", "minutes"), [
    (0.5, 100, 120),  # 0.8333 fen a minute: 120 minutes are exactly 100 fen, 121 would be 101
    (0.25, 1, 3),  # 3 minutes are 1.25 → 1 fen, 4 minutes 1.67 → 2
    (0.25, 2, 5),  # 2.08 → 2; 6 minutes are 2.5 → 3
    (1.5, 500, 200),  # 2.5 fen a minute
    (1.5, 3, 1),  # 2.5 → 3; 2 minutes are 5
    (1.5, 2, 0),  # not even one minute
    (6.0, 0, 0),
    (6.0, 35, 3),  # 10 fen a minute
    (0.35, 5, 9),  # 5.25 → 5, 10 minutes 5.83 → 6
])
def test_a_prepayment_covers_the_whole_minutes_whose_bill_it_pays(yuan_per_hour: float, fen: int,
                                                                  minutes: int) -> None:
    t = Tariff(tiers=[PowerTier(max_w=2500, yuan_per_hour=yuan_per_hour)])
    assert seconds_covered(t, fen, 100.0) == minutes * 60
    assert time_cost_fen(t, minutes * 60, 100.0) <= fen < time_cost_fen(t, minutes * 60 + 1, 100.0)


def test_seconds_covered_uses_the_tier_of_the_power() -> None:
    t = Tariff()
    assert seconds_covered(t, 50, 100.0) == 121 * 60  # 0.25 元/h: 121 minutes are 50.42 → 50 fen
    assert seconds_covered(t, 50, 450.0) == 60 * 60  # 0.5 元/h: 61 minutes would be 50.83 → 51 fen
    assert seconds_covered(t, 50, 2600.0) == 12 * 60  # the top tier, 2.5 元/h: 12 minutes are 50 fen


# -------------------------------------------------------------------------------------------- time of use
@pytest.mark.parametrize(("when", "yuan"), [
    ((7, 29, 59.999), 0.3), ((7, 30, 0), 0.5), ((7, 59, 59.9), 0.5), ((8, 0, 0), 1.0), ((11, 29, 59), 1.0),
    ((11, 30, 0), 1.5), ((11, 59, 59), 1.5), ((12, 0, 0), 0.8), ((23, 29, 59), 0.8), ((23, 30, 0), 0.3),
    ((23, 59, 59), 0.3), ((24, 0, 0), 0.3), ((24, 0, 1), 0.3), ((0, 29, 0), 0.3), ((3, 0, 0), 0.3),
])
def test_energy_is_priced_at_the_half_hour_band_it_was_drawn_in(when: tuple[int, int, float], yuan: float) -> None:
    assert energy_cost_mfen(BANDS, 1000.0, shanghai(*when)) == pytest.approx(yuan * 100_000)


def test_energy_cost_is_exact_in_milli_fen() -> None:
    t = Tariff(mode="energy_tou")  # default bands: 08:00-22:00 1.2 元/kWh, 22:00-08:00 0.6
    assert energy_cost_mfen(t, 1.0, shanghai(10, 0)) == pytest.approx(120.0)  # 1 Wh = 0.12 fen
    assert energy_cost_mfen(t, 250.0, shanghai(21, 59, 59)) == pytest.approx(30_000.0)
    assert energy_cost_mfen(t, 250.0, shanghai(22, 0)) == pytest.approx(15_000.0)
    assert energy_cost_mfen(t, 0.0, shanghai(10, 0)) == 0.0
    assert energy_cost_mfen(t, 1000.0, shanghai(7, 59, 59)) == pytest.approx(60_000.0)
    assert energy_cost_mfen(t, 1000.0, shanghai(8, 0)) == pytest.approx(120_000.0)


def test_every_half_hour_slot_of_the_day_is_bucketed_by_its_start() -> None:
    prices = {(7, 30): 0.5, (8, 0): 1.0, (11, 30): 1.5, (12, 0): 0.8, (23, 30): 0.3}
    price = 0.3  # from midnight
    for slot in range(48):
        h, m = divmod(slot * 30, 60)
        price = prices.get((h, m), price)
        for second in (0, 1, 1799):
            assert energy_cost_mfen(BANDS, 1000.0, shanghai(h, m, second)) == pytest.approx(price * 100_000), (h, m)


def test_a_price_below_one_fen_an_hour_still_runs_out() -> None:
    t = Tariff(tiers=[PowerTier(max_w=2500, yuan_per_hour=0.005)])  # half a fen an hour
    assert seconds_affordable(t, 1, 100.0) == 7200.0
    assert seconds_covered(t, 1, 100.0) == 179 * 60  # 179 minutes are 1.49 → 1 fen, 180 are 1.5 → 2
