"""A port's session as pure rules (``edge/apps/charger/port.py``): every stop at its exact step, every limit's
``>=`` or ``>`` pinned, bills and refunds to the fen. No pile, no clock: a :class:`Session` and numbers.

Decided on purpose:
- protections and limits stop AT their threshold: temperature ``>= over_temp_c``; a session stops when its
  charged time reaches ``max_session_s`` / ``prepaid_s`` (not one step before); overload is power ``> port_max_w``
  (the limit itself is allowed) held for ``>= overload_confirm_s``; removed is power ``< unplug_w`` for
  ``>= unplug_s``; float is power ``< full_w`` (back to charging at ``>= 1.5 × full_w``) for ``>= float_s``;
- a prepayment is used once going on would cost more than it (time_tiers: the end of the last whole minute it pays
  for; energy_tou: the energy drawn is worth it), so a fully used prepayment refunds exactly 0;
- energy_tou bills are rounded up to the fen; ``min_fen`` applies to a session that was switched on.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import pytest

from edge.apps.charger.config import Limits
from edge.apps.charger.port import PortView, Session, held_power
from edge.apps.charger.tariff import PowerTier, Tariff, TouBand
from linli.contract.charger import Settlement

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC).timestamp()  # 10:00 Asia/Shanghai
LIMITS = Limits()  # port 600 W, 90 °C, overload 2 s, full < 15 W for 7200 s, removed < 2 W for 120 s, 8 h
FLAT = Tariff(tiers=[PowerTier(max_w=2500, yuan_per_hour=6.0)], tier_window_s=0)  # 10 fen a minute
TOU = Tariff(mode="energy_tou", tou=[TouBand(start=time(0), end=time(12), yuan_per_kwh=1.0),
                                     TouBand(start=time(12), end=time(0), yuan_per_kwh=2.0)])


def session(mode: str = "time_tiers", tariff: Tariff = FLAT, prepaid_fen: int = 0, prepaid_s: int = 0,
            started: bool = True, **kw: Any) -> Session:
    s = Session(order_id="o-1", port=3, source="card", user="u-1", mode=mode, tariff=tariff.model_dump(mode="json"),
                prepaid_fen=prepaid_fen, prepaid_s=prepaid_s, created_at=T0, **kw)
    if started:
        s.state, s.started_at, s.last_tick = "charging", T0, T0
    return s


def run(s: Session, seconds: int, power_w: float = 300.0, tariff: Tariff = FLAT, limits: Limits = LIMITS,
        temperature_c: float | None = 30.0, plugged: bool = True) -> tuple[int, str | None]:
    """Step once a second for up to ``seconds``; (the second it stopped at, why) or (seconds, None)."""
    assert s.last_tick is not None
    start = s.last_tick
    for i in range(1, seconds + 1):
        reason = s.step(start + i, power_w, temperature_c, plugged, limits, tariff)
        if reason is not None:
            return i, reason
    return seconds, None


def stepped(s: Session, t: float, power_w: float = 300.0, temperature_c: float | None = 30.0,
            plugged: bool = True, limits: Limits = LIMITS, tariff: Tariff = FLAT) -> str | None:
    return s.step(T0 + t, power_w, temperature_c, plugged, limits, tariff)


# ------------------------------------------------------------------------------------------ limits of a session
@pytest.mark.parametrize("max_s", [60, 3600, 8 * 3600])
def test_a_session_is_stopped_at_the_maximum_duration_and_not_one_step_before(max_s: int) -> None:
    s = session()
    limits = Limits(max_session_s=max_s)
    assert run(s, max_s - 1, limits=limits) == (max_s - 1, None)
    assert s.charged_s == max_s - 1
    assert stepped(s, max_s, limits=limits) == "max_duration"
    assert s.charged_s == max_s


def test_bought_time_stops_at_its_last_second() -> None:
    s = session(mode="coin_time", prepaid_fen=100, prepaid_s=240 * 60)
    assert run(s, 240 * 60) == (240 * 60, "time_used")
    bill = s.bill(FLAT, "time_used", T0 + 240 * 60)
    assert (bill["amount_fen"], bill["refund_fen"], bill["charged_s"]) == (100, 0, 14400)


def test_bought_time_beyond_the_longest_session_still_stops_at_the_longest() -> None:
    s = session(mode="coin_time", prepaid_fen=300, prepaid_s=3 * 240 * 60)
    assert run(s, 9 * 3600) == (8 * 3600, "max_duration")


def test_the_time_limit_is_named_before_money_and_duration() -> None:
    s = session(prepaid_fen=10, prepaid_s=60)
    s.charged_s = 8 * 3600.0
    assert s.limit_reason(LIMITS, FLAT) == "time_used"
    s = session(prepaid_fen=10)
    s.charged_s = 8 * 3600.0
    assert s.limit_reason(LIMITS, FLAT) == "money_used"
    s = session()
    s.charged_s = 8 * 3600.0
    assert s.limit_reason(LIMITS, FLAT) == "max_duration"


@pytest.mark.parametrize(("yuan_per_hour", "prepaid_fen", "stop_s", "amount_fen"), [
    (6.0, 100, 600, 100),  # 10 fen a minute: 10 minutes
    (6.0, 105, 600, 100),  # 10.5 minutes' worth: the 11th would cost 110 (5 fen back)
    (0.5, 100, 7200, 100),  # 0.8333 fen a minute: 120 minutes are exactly 100 fen
    (0.25, 1, 180, 1),  # 3 minutes are 1.25 → 1 fen: the whole fen is used, not stopped after 61 s
    (1.5, 500, 12000, 500),
])
def test_a_prepayment_is_used_to_its_last_paid_minute_and_refunds_what_is_left(
        yuan_per_hour: float, prepaid_fen: int, stop_s: int, amount_fen: int) -> None:
    tariff = Tariff(tiers=[PowerTier(max_w=2500, yuan_per_hour=yuan_per_hour)], tier_window_s=0)
    s = session(tariff=tariff, prepaid_fen=prepaid_fen)
    assert run(s, 9 * 3600, tariff=tariff) == (stop_s, "money_used")
    bill = s.bill(tariff, "money_used", T0 + stop_s)
    assert (bill["charged_s"], bill["amount_fen"], bill["refund_fen"]) == (stop_s, amount_fen, prepaid_fen - amount_fen)


def test_a_fully_used_prepayment_refunds_exactly_zero() -> None:
    s = session(prepaid_fen=100)
    assert run(s, 3600) == (600, "money_used")
    bill = s.bill(FLAT, "money_used", T0 + 600)
    assert (bill["amount_fen"], bill["prepaid_fen"], bill["refund_fen"]) == (100, 100, 0)
    s.charged_s += 30  # billed for the poll after the stop: never more than was paid
    bill = s.bill(FLAT, "money_used", T0 + 630)
    assert (bill["amount_fen"], bill["refund_fen"]) == (100, 0)


def test_a_prepaid_energy_session_stops_once_the_energy_is_worth_the_money() -> None:
    s = session(mode="energy_tou", tariff=TOU, prepaid_fen=2)  # 1 元/kWh before noon: 2 fen = 20 Wh
    s.count_energy(1000, T0, TOU)
    s.count_energy(1019, T0, TOU)  # 1.9 fen: billed 2 (rounded up) but not used yet
    assert s.cost_fen(TOU) == 2
    assert s.limit_reason(LIMITS, TOU) is None
    s.count_energy(1020, T0, TOU)
    assert s.limit_reason(LIMITS, TOU) == "money_used"
    bill = s.bill(TOU, "money_used", T0 + 60)
    assert (bill["amount_fen"], bill["refund_fen"], bill["energy_wh"]) == (2, 0, 20.0)


def test_only_billed_modes_use_up_money() -> None:
    for mode in ("free", "coin_time"):
        s = session(mode=mode, prepaid_fen=1)
        s.charged_s, s.cost_mfen = 3600.0, 10_000.0
        assert s.limit_reason(LIMITS, FLAT) is None


def test_pay_after_sessions_have_no_money_limit() -> None:
    s = session()  # prepaid 0: charge until full, billed afterwards
    assert run(s, 3600) == (3600, None)
    assert s.cost_fen(FLAT) == 600


def test_money_is_used_by_the_tier_the_session_holds() -> None:
    s = session(tariff=Tariff(), prepaid_fen=50)  # default tiers, 60 s window
    assert run(s, 9 * 3600, power_w=450.0, tariff=Tariff()) == (3600, "money_used")  # 0.5 元/h: 60 minutes


# ---------------------------------------------------------------------------------------------- protections
def test_over_temperature_stops_at_the_limit() -> None:
    s = session()
    assert stepped(s, 1, temperature_c=89.9) is None
    assert stepped(s, 2, temperature_c=None) is None
    assert stepped(s, 3, temperature_c=90.0) == "over_temperature"


def test_over_temperature_comes_before_overload_and_unplug() -> None:
    s = session()
    assert stepped(s, 1, power_w=5000.0, temperature_c=95.0, plugged=False,
                   limits=Limits(overload_confirm_s=0)) == "over_temperature"


@pytest.mark.parametrize(("power_w", "stops"), [(600.0, False), (600.1, True), (3000.0, True)])
def test_overload_is_power_above_the_port_limit_held_for_the_confirmation(power_w: float, stops: bool) -> None:
    s = session()
    assert stepped(s, 10, power_w=power_w) is None
    assert s.over_since == (T0 + 10 if stops else None)
    assert stepped(s, 11.9, power_w=power_w) is None
    assert stepped(s, 12, power_w=power_w) == ("overload" if stops else None)


def test_overload_confirmation_starts_again_after_a_dip() -> None:
    s = session()
    assert stepped(s, 1, power_w=700.0) is None
    assert stepped(s, 2, power_w=500.0) is None
    assert s.over_since is None
    assert stepped(s, 3, power_w=700.0) is None
    assert stepped(s, 4, power_w=700.0) is None
    assert stepped(s, 5, power_w=700.0) == "overload"


def test_overload_without_confirmation_stops_at_once_and_before_unplug() -> None:
    s = session()
    assert stepped(s, 1, power_w=601.0, plugged=False, limits=Limits(overload_confirm_s=0)) == "overload"


def test_a_plug_pulled_out_stops_at_once() -> None:
    s = session()
    assert stepped(s, 1, plugged=False) == "unplugged"


@pytest.mark.parametrize(("power_w", "stops"), [(1.99, True), (0.0, True), (2.0, False)])
def test_a_charger_taken_away_is_power_below_the_removed_limit_for_its_time(power_w: float, stops: bool) -> None:
    s = session()
    assert stepped(s, 100, power_w=power_w) is None
    assert s.low_since == (T0 + 100 if stops else None)
    assert stepped(s, 219, power_w=power_w) is None
    assert stepped(s, 220, power_w=power_w) == ("unplugged" if stops else None)


def test_the_removed_timer_starts_again_when_power_returns() -> None:
    s = session()
    assert stepped(s, 1, power_w=1.0) is None
    assert stepped(s, 100, power_w=300.0) is None
    assert s.low_since is None
    assert stepped(s, 101, power_w=1.0) is None
    assert stepped(s, 220, power_w=1.0) is None
    assert stepped(s, 221, power_w=1.0) == "unplugged"


@pytest.mark.parametrize(("power_w", "floats"), [(14.99, True), (2.0, True), (15.0, False)])
def test_full_is_float_power_for_the_float_time(power_w: float, floats: bool) -> None:
    s = session()
    assert stepped(s, 10, power_w=power_w) is None
    assert (s.state, s.float_since) == (("float", T0 + 10) if floats else ("charging", None))
    assert stepped(s, 7209, power_w=power_w) is None
    assert stepped(s, 7210, power_w=power_w) == ("full" if floats else None)


def test_float_hysteresis_a_charger_restarting_its_cv_stage() -> None:
    s = session()
    assert stepped(s, 1, power_w=10.0) is None
    assert stepped(s, 2, power_w=22.4) is None  # above full_w but below 1.5 × full_w: still the same float
    assert (s.state, s.float_since) == ("float", T0 + 1)
    assert stepped(s, 3, power_w=22.5) is None  # 1.5 × full_w: charging again
    assert (s.state, s.float_since) == ("charging", None)
    assert stepped(s, 4, power_w=10.0) is None
    assert s.float_since == T0 + 4
    assert stepped(s, 7203, power_w=10.0) is None
    assert stepped(s, 7204, power_w=10.0) == "full"


def test_float_zero_ends_at_the_first_float_measurement() -> None:
    s = session()
    assert stepped(s, 1, power_w=5.0, limits=Limits(float_s=0)) == "full"


# ---------------------------------------------------------------------------------------------- time keeping
def test_charged_time_counts_between_measurements_and_never_backwards() -> None:
    s = session(started=False)
    assert stepped(s, 5) is None  # the first measurement only starts the clock
    assert (s.charged_s, s.last_tick) == (0.0, T0 + 5)
    assert stepped(s, 7.5) is None
    assert s.charged_s == 2.5
    assert stepped(s, 6) is None  # the clock went back: no time, none taken off
    assert (s.charged_s, s.last_tick) == (2.5, T0 + 6)
    assert stepped(s, 9) is None
    assert s.charged_s == 5.5


def test_the_highest_single_measurement_is_kept() -> None:
    s = session()
    for t, w in ((1, 100.0), (2, 450.0), (3, 200.0)):
        stepped(s, t, power_w=w)
    assert s.max_power_w == 450.0


# ------------------------------------------------------------------------------------------------- metering
def test_the_first_counter_reading_is_the_base() -> None:
    s = session(mode="energy_tou", tariff=TOU)
    s.count_energy(5000, T0, TOU)
    assert (s.last_counter_wh, s.energy_wh, s.cost_mfen) == (5000, 0.0, 0.0)
    s.count_energy(5000, T0 + 1, TOU)
    assert (s.energy_wh, s.cost_mfen) == (0.0, 0.0)
    s.count_energy(5250, T0 + 2, TOU)  # 10:00 Shanghai: 1 元/kWh
    assert (s.last_counter_wh, s.energy_wh) == (5250, 250.0)
    assert s.cost_mfen == pytest.approx(25_000.0)
    s.count_energy(5350, T0 + 2 * 3600, TOU)  # 12:00: 2 元/kWh
    assert s.cost_mfen == pytest.approx(45_000.0)
    assert s.cost_fen(TOU) == 45


def test_an_mcu_restart_counts_from_zero_again() -> None:
    s = session(mode="energy_tou", tariff=TOU)
    s.count_energy(5000, T0, TOU)
    s.count_energy(5100, T0, TOU)
    s.count_energy(30, T0, TOU)  # the MCU restarted: 30 Wh since
    assert (s.last_counter_wh, s.energy_wh) == (30, 130.0)
    assert s.cost_mfen == pytest.approx(13_000.0)


def test_time_sessions_count_energy_but_no_energy_cost() -> None:
    s = session()
    s.count_energy(0, T0, FLAT)
    s.count_energy(700, T0, FLAT)
    assert (s.energy_wh, s.cost_mfen) == (700.0, 0.0)


@pytest.mark.parametrize(("mfen", "fen"), [(0.0, 0), (1.0, 1), (999.0, 1), (1000.0, 1), (1000.0000001, 1),
                                           (1000.5, 2), (45_000.0, 45)])
def test_energy_bills_are_rounded_up_to_the_fen(mfen: float, fen: int) -> None:
    s = session(mode="energy_tou", tariff=TOU)
    s.cost_mfen = mfen
    assert s.cost_fen(TOU) == fen


# ----------------------------------------------------------------------------------------------------- bills
def test_costs_by_mode_and_the_least_charge() -> None:
    least = Tariff(tiers=[PowerTier(max_w=2500, yuan_per_hour=6.0)], tier_window_s=0, min_fen=50)
    s = session(tariff=least)
    s.charged_s = 61.0
    assert s.cost_fen(least) == 50  # 20 fen, but a started session costs at least 50
    s.charged_s = 600.0
    assert s.cost_fen(least) == 100
    assert session(tariff=least, started=False).cost_fen(least) == 0  # never switched on: nothing
    assert session(mode="free", tariff=least).cost_fen(least) == 0
    assert session(mode="coin_time", prepaid_fen=300, prepaid_s=720 * 60).cost_fen(least) == 300
    e = session(mode="energy_tou", tariff=least)
    e.cost_mfen = 3000.0
    assert e.cost_fen(least) == 50


def test_a_whole_bill_of_a_time_session() -> None:
    s = session(prepaid_fen=500, tariff=Tariff())
    s.tariff["version"] = 7
    for i in range(1, 121):
        assert s.step(T0 + i, 450.0, 30.0, True, LIMITS, Tariff()) is None
    s.count_energy(100, T0 + 120, Tariff())
    s.count_energy(115, T0 + 120, Tariff())
    bill = s.bill(Tariff(), "user_stop", T0 + 121)
    assert bill == {
        "order_id": "o-1", "port": 3, "source": "card", "user": "u-1", "mode": "time_tiers", "tariff_version": 7,
        "started_at": T0, "ended_at": T0 + 121, "charged_s": 120, "energy_wh": 15.0, "max_power_w": 450.0,
        "tier_w": 500, "tier_power_w": 450.0, "tier_window_s": 60.0, "tier_basis": "held", "amount_fen": 2,
        "prepaid_fen": 500, "refund_fen": 498, "stop_reason": "user_stop", "resumed": 0,
    }
    Settlement.model_validate({**bill, "started_at": "2026-11-21T02:00:00Z", "ended_at": "2026-11-21T02:02:01Z"})


def test_a_whole_bill_of_an_energy_session_never_switched_on() -> None:
    s = session(mode="energy_tou", tariff=TOU, prepaid_fen=300, started=False, resumed=2)
    bill = s.bill(TOU, "no_plug", T0 + 120)
    assert bill == {
        "order_id": "o-1", "port": 3, "source": "card", "user": "u-1", "mode": "energy_tou", "tariff_version": 1,
        "started_at": T0, "ended_at": T0 + 120, "charged_s": 0, "energy_wh": 0.0, "max_power_w": 0.0,
        "tier_w": None, "tier_power_w": None, "tier_window_s": None, "tier_basis": None, "amount_fen": 0,
        "prepaid_fen": 300, "refund_fen": 300, "stop_reason": "no_plug", "resumed": 2,
    }


@pytest.mark.parametrize(("mode", "prepaid_fen", "cost_s", "amount", "refund"), [
    ("time_tiers", 0, 600, 100, 0),  # pay afterwards
    ("time_tiers", 150, 600, 100, 50),
    ("time_tiers", 100, 600, 100, 0),
    ("time_tiers", 100, 660, 100, 0),  # never more than was paid
    ("coin_time", 200, 600, 200, 0),  # coins are spent as inserted: no refund of cash
    ("free", 0, 600, 0, 0),
    ("free", 100, 600, 0, 100),
])
def test_amounts_and_refunds(mode: str, prepaid_fen: int, cost_s: int, amount: int, refund: int) -> None:
    s = session(mode=mode, prepaid_fen=prepaid_fen, prepaid_s=14400 if mode == "coin_time" else 0)
    s.charged_s = float(cost_s)
    bill = s.bill(FLAT, "user_stop", T0 + cost_s)
    assert (bill["amount_fen"], bill["refund_fen"], bill["prepaid_fen"]) == (amount, refund, prepaid_fen)


def test_bill_rounds_what_it_shows() -> None:
    s = session(mode="energy_tou", tariff=TOU)
    s.charged_s, s.energy_wh, s.max_power_w = 59.5, 12.34, 450.06
    bill = s.bill(TOU, "full", T0 + 60)
    assert (bill["charged_s"], bill["energy_wh"], bill["max_power_w"]) == (60, 12.3, 450.1)


# ------------------------------------------------------------------------------------------------ remaining
def test_remaining_time_is_the_least_of_the_limits() -> None:
    s = session()
    s.charged_s = 3600.0
    assert s.remaining_s(LIMITS, FLAT) == 7 * 3600
    s = session(mode="coin_time", prepaid_fen=100, prepaid_s=1800)
    s.charged_s = 600.0
    assert s.remaining_s(LIMITS, FLAT) == 1200
    s = session(prepaid_fen=105)  # 10 fen a minute: 10 whole minutes
    s.charged_s = 100.0
    assert s.remaining_s(LIMITS, FLAT) == 500
    s.charged_s = 700.0
    assert s.remaining_s(LIMITS, FLAT) == 0.0
    s = session(mode="energy_tou", tariff=TOU, prepaid_fen=100)  # energy: only the longest session is known
    s.charged_s = 100.0
    assert s.remaining_s(LIMITS, TOU) == 8 * 3600 - 100
    s = session(prepaid_fen=10_000)
    s.charged_s = 7 * 3600.0
    assert s.remaining_s(LIMITS, FLAT) == 3600  # the longest session comes first
    s = session(mode="coin_time", prepaid_fen=100, prepaid_s=100)  # coins: time, not money
    assert s.remaining_s(LIMITS, FLAT) == 100


# ------------------------------------------------------------------------------------------------ the tier
def test_held_power_edges() -> None:
    assert held_power([], 100.0, 60.0) == (None, 0)
    samples = [[0.0, 450.0], [40.0, 300.0], [60.0, 500.0], [100.0, 200.0]]
    assert held_power(samples, 60.0, 60.0) == (300.0, 0)  # [0, 60): 450 then 300
    assert held_power(samples, 100.0, 60.0) == (300.0, 1)  # [40, 100): 300 then 500; 450 superseded at 40
    assert held_power(samples, 120.0, 60.0) == (200.0, 2)  # [60, 120)
    assert held_power(samples, 59.9, 60.0) == (None, 0)  # reaches back to -0.1: not covered
    assert held_power([[0.0, 100.0]], 0.0, 0.0) == (None, 0)  # nothing in force before the end


def test_observing_power_trims_the_window_and_two_polls_at_one_instant_keep_the_later() -> None:
    s = session()
    s.observe_power(T0, 100.0, 60.0)
    s.observe_power(T0, 450.0, 60.0)
    assert s.tier_samples == [[T0, 450.0]]
    s.observe_power(T0 + 30, 300.0, 60.0)
    s.observe_power(T0 + 20, 200.0, 60.0)  # the clock went back: it replaces the sample it went back over
    assert s.tier_samples == [[T0, 450.0], [T0 + 20, 200.0]]
    assert (s.tier_power_w, s.tier_confirmed) == (0.0, False)
    s.observe_power(T0 + 30, 300.0, 60.0)
    s.observe_power(T0 + 85, 250.0, 60.0)  # [25, 85): 200 then 300
    assert (s.tier_power_w, s.tier_confirmed) == (200.0, True)
    assert s.tier_samples == [[T0 + 20, 200.0], [T0 + 30, 300.0], [T0 + 85, 250.0]]
    s.observe_power(T0 + 150, 100.0, 60.0)  # [90, 150): 250 held the whole window
    assert s.tier_power_w == 250.0
    assert s.tier_samples == [[T0 + 85, 250.0], [T0 + 150, 100.0]]
    s.restart_tier_window()
    assert s.tier_samples == []


def test_the_tier_basis_of_short_and_long_sessions() -> None:
    tariff = Tariff()  # 60 s window
    s = session(started=False)
    assert s.tier_basis(tariff) == (0.0, "whole_session")  # nothing measured
    s = session()
    for t, w in ((0, 900.0), (10, 700.0), (20, 800.0)):
        s.observe_power(T0 + t, w, 60.0)
    s.last_tick = T0 + 30
    assert s.tier_basis(tariff) == (700.0, "whole_session")  # the least since the start
    s.last_tick = T0 + 60
    assert s.tier_basis(tariff) == (700.0, "held")  # [0, 60) is a whole window now
    s.tier_confirmed, s.tier_power_w = True, 1000.0
    assert s.tier_basis(tariff) == (1000.0, "held")
    s.tier_samples.clear()
    assert s.tier_basis(tariff) == (1000.0, "held")  # confirmed earlier, nothing held since


# ------------------------------------------------------------------------------------------------ keeping it
def test_a_session_survives_the_journal() -> None:
    s = session(prepaid_fen=100)
    run(s, 90, power_w=450.0)
    doc = s.to_json()
    assert doc["order_id"] == "o-1" and doc["charged_s"] == 90.0
    back = Session.from_json({**doc, "from_an_older_version": 1})
    assert back == s
    assert back.tariff_model == FLAT


@pytest.mark.parametrize(("faults", "has_session", "last_reason", "plugged", "state"), [
    ({"relay_welded"}, True, None, True, "fault"),
    ({"fuse_blown"}, False, None, False, "fault"),
    ({"sensor_fault"}, True, None, True, "charging"),
    (set(), True, "full", True, "charging"),
    (set(), False, "full", False, "finished"),
    (set(), False, None, True, "plugged"),
    (set(), False, None, False, "idle"),
])
def test_port_state(faults: set[str], has_session: bool, last_reason: str | None, plugged: bool, state: str) -> None:
    p = PortView(number=1, plugged=plugged, faults=faults, session=session() if has_session else None,
                 last_reason=last_reason)
    assert p.state == state


def test_the_tier_basis_edges() -> None:
    tariff = Tariff()
    s = session()
    s.tier_confirmed, s.tier_power_w = True, 0.0  # a whole window held at 0 W, nothing measured since
    assert s.tier_basis(tariff) == (0.0, "held")
    s = session()
    for t, w in ((0, 900.0), (10, 700.0), (30, 100.0)):
        s.observe_power(T0 + t, w, 60.0)
    s.last_tick = T0 + 30  # the measurement at the end has held for no time yet
    assert s.tier_basis(tariff) == (700.0, "whole_session")


def test_bought_time_is_not_limited_by_money() -> None:
    s = session(prepaid_fen=10, prepaid_s=3600)  # a time purchase that also names what it cost
    s.charged_s = 120.0  # 20 fen at 10 fen a minute
    assert s.limit_reason(LIMITS, FLAT) is None


def test_a_bill_names_version_1_for_a_tariff_journalled_without_one() -> None:
    s = session()
    del s.tariff["version"]
    assert s.bill(FLAT, "full", T0)["tariff_version"] == 1
