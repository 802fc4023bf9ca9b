"""How a session is priced under a tariff (the :class:`Tariff` itself is part of the wire contract,
``linli.contract.charger``).

A session keeps a copy of the tariff it started under (in the journal), so a tariff changed by the server while
it runs does not change its bill. Money is integer fen (0.01 元); energy costs accumulate in milli-fen.

- ``time_tiers``: price per hour by the power tier of the highest power the session *held* for ``tier_window_s``
  (8 tiers, as piles do). A power counts only when every measurement over a whole window was at least that much
  (like the overload confirmation): a charger's start-up surge or a one-second spike does not set the tier, a
  bike drawing 450 W for a minute does. A session shorter than the window is priced by the power it held from its
  start. Whole minutes started are billed, ``元/h × minutes / 60`` rounded half up to the fen (四舍五入). A
  prepayment buys the whole minutes whose bill is at most the prepayment (``seconds_covered``).
- ``energy_tou``: price per kWh by time of use (Asia/Shanghai half-hour slots).
- ``coin_time``: each coin buys ``coin_minutes`` of charging (no refunds of cash).
- ``free``: nothing to pay (staff tests, a property's free hours).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

from linli.contract.charger import DEFAULT_TIERS, DEFAULT_TOU, SHANGHAI, PowerTier, Tariff, TouBand

__all__ = ["DEFAULT_TIERS", "DEFAULT_TOU", "SHANGHAI", "PowerTier", "Tariff", "TouBand", "energy_cost_mfen",
           "seconds_affordable", "seconds_covered", "time_cost_fen"]


def time_cost_fen(tariff: Tariff, charged_s: float, tier_power_w: float) -> int:
    """time_tiers: whole minutes started are billed (as meters of time are), rounded half up to the fen."""
    tier = tariff.tier_for(tier_power_w)
    minutes = math.ceil(max(0.0, charged_s) / 60 - 1e-9)
    fen = Decimal(str(tier.yuan_per_hour)) * 100 * minutes / 60
    return int(fen.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def energy_cost_mfen(tariff: Tariff, wh: float, when_epoch: float) -> float:
    """energy_tou: cost of ``wh`` drawn at ``when_epoch``, in milli-fen."""
    return wh / 1000 * tariff.kwh_price(when_epoch) * 100_000


def seconds_affordable(tariff: Tariff, fen: int, tier_power_w: float) -> float:
    """time_tiers: how long ``fen`` lasts at the tier of ``tier_power_w``."""
    per_hour = tariff.tier_for(tier_power_w).yuan_per_hour * 100
    return math.inf if per_hour <= 0 else fen / per_hour * 3600


def seconds_covered(tariff: Tariff, fen: int, tier_power_w: float) -> float:
    """time_tiers: how long a prepayment of ``fen`` pays for at the tier of ``tier_power_w``: the whole minutes whose
    bill (rounded as :func:`time_cost_fen` rounds it) is at most ``fen``. A session stopped then has used its money."""
    per_hour = Decimal(str(tariff.tier_for(tier_power_w).yuan_per_hour)) * 100
    if per_hour <= 0:
        return math.inf
    minutes = int(Decimal(fen) * 60 / per_hour)  # the exact price of these is at most fen, so their bill is too
    while time_cost_fen(tariff, (minutes + 1) * 60, tier_power_w) <= fen:  # rounding down gives a minute or two
        minutes += 1
    return float(minutes * 60)
