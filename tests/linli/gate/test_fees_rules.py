"""Parking fees (linli.gate.fees) in exact fen: every boundary of the free period, the started hour and the 24-hour
cap on both sides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli.gate.fees import Tariff, fee_cents, yuan

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
STD = Tariff(free_minutes=30, hourly_cents=500, daily_cap_cents=4000)
S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.mark.parametrize(("stay", "fen"), [
    (-H, 0),  # a clock that went back
    (0 * S, 0),
    (30 * M, 0),  # the last second of the free period is free
    (30 * M + S, 500),  # then the stay is charged from its start: one started hour
    (H, 500),
    (H + S, 1000),
    (7 * H, 3500),
    (7 * H + S, 4000),  # 8 started hours = the cap
    (8 * H + S, 4000),  # 9 started hours, capped
    (D - S, 4000),
    (D, 4000),  # exactly one day: one cap, nothing started after it
    (D + 30 * S, 4500),  # half a minute into the next day is a started hour
    (D + H, 4500),
    (D + H + S, 5000),
    (2 * D + 3 * H, 2 * 4000 + 1500),
    (2 * D + 23 * H, 3 * 4000),
])
def test_standard_tariff(stay: timedelta, fen: int) -> None:
    assert fee_cents(STD, T0, T0 + stay) == fen


def test_no_free_period_charges_from_the_first_second() -> None:
    t = Tariff(free_minutes=0, hourly_cents=500, daily_cap_cents=4000)
    assert fee_cents(t, T0, T0) == 0
    assert fee_cents(t, T0, T0 - H) == 0
    assert fee_cents(t, T0, T0 + S) == 500


def test_cap_below_one_hour_rate() -> None:
    t = Tariff(free_minutes=10, hourly_cents=500, daily_cap_cents=300)
    assert fee_cents(t, T0, T0 + 2 * H) == 300
    assert fee_cents(t, T0, T0 + D + H) == 600


def test_defaults() -> None:
    assert Tariff() == STD


@given(st.integers(0, 10 * 24 * 3600), st.integers(1, 3600))
def test_fee_never_falls_as_the_stay_grows_and_each_day_costs_at_most_the_cap(seconds: int, more: int) -> None:
    a = fee_cents(STD, T0, T0 + seconds * S)
    b = fee_cents(STD, T0, T0 + (seconds + more) * S)
    assert 0 <= a <= b
    assert a <= (seconds // 86400 + 1) * STD.daily_cap_cents
    assert a % 500 == 0


@pytest.mark.parametrize(("cents", "text"), [(0, "0.00"), (1, "0.01"), (99, "0.99"), (500, "5.00"),
                                             (12345, "123.45")])
def test_yuan(cents: int, text: str) -> None:
    assert yuan(cents) == text
