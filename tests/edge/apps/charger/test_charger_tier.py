"""The price tier comes from power HELD over a confirmation window, not from the highest single sample (exact fen).

Default tiers: up to 200 W 0.25 元/h, 300 W 0.35, 500 W 0.5, 800 W 0.8, 1000 W 1.0, 1500 W 1.5 ...; whole minutes
started are billed, rounded half up to the fen. Polls every second, as the pile controller does by default.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from edge.apps.charger.config import Limits
from edge.apps.charger.port import Session, held_power
from edge.apps.charger.tariff import Tariff, time_cost_fen
from linli.contract.charger import Settlement

T0 = 1_763_700_000.0
LIMITS = Limits(port_max_w=3500, pile_max_w=6000, float_s=6 * 3600, unplug_w=0.5, full_w=1.0, max_session_s=24 * 3600)


def charge(powers: Iterable[float], tariff: Tariff | None = None) -> dict[str, object]:
    """A session switched on at T0 and measured once a second with ``powers``; stopped a second after the last."""
    tariff = tariff or Tariff()
    s = Session(order_id="o", port=1, source="remote", user="", mode="time_tiers",
                tariff=tariff.model_dump(mode="json"), prepaid_fen=0, prepaid_s=0, created_at=T0,
                state="charging", started_at=T0, last_tick=T0)
    t = T0
    for w in powers:
        t += 1.0
        assert s.step(t, w, 30.0, True, LIMITS, tariff) is None
    t += 1.0
    s.charged_s += t - (s.last_tick or t)
    s.last_tick = t
    bill = s.bill(tariff, "user_stop", t)
    Settlement.model_validate({**bill, "started_at": "2026-11-21T02:00:00Z", "ended_at": "2026-11-21T04:30:00Z"})
    return bill


def test_one_second_spike_in_a_long_slow_charge_does_not_change_the_tier() -> None:
    powers = [5.0] * 9000
    powers[600] = 450.0  # one 1-second sample at 450 W in 2.5 h at 5 W
    bill = charge(powers[:-1])  # 8999 samples + the stop: 9000 s charged = 150 minutes
    assert bill["charged_s"] == 9000 and bill["max_power_w"] == 450.0
    assert (bill["tier_w"], bill["tier_power_w"], bill["tier_window_s"], bill["tier_basis"]) == (200, 5.0, 60.0, "held")
    assert bill["amount_fen"] == 63  # 0.25 元/h × 150 min = 62.5 fen → 63 (the 450 W sample alone gave 125)


@pytest.mark.parametrize(("held_s", "tier_w", "fen"), [(59, 200, 25), (60, 500, 50)])
def test_power_counts_only_when_held_for_the_whole_window(held_s: int, tier_w: int, fen: int) -> None:
    powers = [100.0] * 10 + [450.0] * held_s + [100.0] * (3600 - 10 - held_s - 1)
    bill = charge(powers)  # 3600 s: 60 minutes
    assert bill["charged_s"] == 3600
    assert (bill["tier_w"], bill["amount_fen"]) == (tier_w, fen)
    assert bill["tier_power_w"] == (450.0 if held_s >= 60 else 100.0)


@pytest.mark.parametrize(("watts", "tier_w", "fen"), [(200.0, 200, 25), (200.5, 300, 35), (300.0, 300, 35),
                                                     (300.1, 500, 50), (2500.0, 2500, 250), (3000.0, 2500, 250)])
def test_tier_edges_are_inclusive(watts: float, tier_w: int, fen: int) -> None:
    bill = charge([watts] * 3599)
    assert (bill["tier_w"], bill["tier_power_w"], bill["amount_fen"]) == (tier_w, watts, fen)


def test_a_session_shorter_than_the_window_is_priced_by_what_it_held_from_its_start() -> None:
    bill = charge([1200.0] * 5 + [1100.0] * 24)  # 30 s
    assert (bill["tier_w"], bill["tier_power_w"], bill["tier_basis"]) == (1500, 1100.0, "whole_session")
    assert bill["amount_fen"] == 3  # 1.5 元/h × 1 min = 2.5 fen → 3


def test_window_zero_is_the_highest_single_sample() -> None:
    powers = [5.0] * 100
    powers[50] = 450.0
    bill = charge(powers, Tariff(tier_window_s=0))
    assert (bill["tier_w"], bill["tier_power_w"]) == (500, 450.0)


def test_a_longer_window_from_the_tariff() -> None:
    powers = [100.0] * 60 + [450.0] * 200 + [100.0] * 3339  # 450 W for 200 s
    assert charge(powers, Tariff(tier_window_s=180))["tier_w"] == 500
    assert charge(powers, Tariff(tier_window_s=300))["tier_w"] == 200


def test_held_power_over_a_window() -> None:
    samples = [[0.0, 450.0], [1.0, 5.0], [70.0, 6.0]]
    assert held_power(samples, 30.0, 60.0) == (None, 0)  # nothing reaches back 60 s yet
    assert held_power(samples, 61.0, 60.0) == (5.0, 1)  # [1, 61): only the 5 W sample; the first is superseded
    assert held_power(samples, 71.0, 60.0) == (5.0, 1)


def test_time_cost_rounds_half_up_to_the_fen() -> None:
    t = Tariff()
    assert time_cost_fen(t, 150 * 60, 5.0) == 63  # 62.5
    assert time_cost_fen(t, 90, 1200.0) == 5  # 2 minutes at 1.5 元/h = 5 fen
    assert time_cost_fen(t, 0, 100.0) == 0


def test_end_to_end_a_one_second_spike_through_the_simulated_pile(make_bench: Any) -> None:
    b = make_bench({"limits": {"full_w": 3, "unplug_w": 1}})
    load = b.pile.plug(1, "phone", full_after_s=None)  # 5 W throughout
    b.settle()
    assert b.command("start", port=1, order_id="spike-1").ok
    b.advance(600, step=300)
    load.watts = 450.0  # one poll sees 450 W ...
    b.advance(1, step=1)
    load.watts = 5.0  # ... and the poll one second later 5 W again
    b.advance(1, step=1)
    b.advance(9000 - 602, step=600)
    b.command("stop", port=1)
    s = Settlement.model_validate(b.wait_events("charger.settlement")[0].data)
    assert s.charged_s == 9000 and s.max_power_w == 450.0
    assert (s.tier_w, s.tier_power_w, s.tier_window_s, s.tier_basis) == (200, 5.0, 60.0, "held")
    assert s.amount_fen == 63
