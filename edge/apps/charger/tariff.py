"""How a session is priced under a tariff (the :class:`Tariff` itself is part of the wire contract,
``linli.contract.charger``).

A session keeps a copy of the tariff it started under (in the journal), so a tariff changed by the server while
it runs does not change its bill. Money is integer fen (0.01 元); energy costs accumulate in milli-fen.

- ``time_tiers``: price per hour by the highest power tier the session reached (8 tiers, as piles do).
- ``energy_tou``: price per kWh by time of use (Asia/Shanghai half-hour slots).
- ``coin_time``: each coin buys ``coin_minutes`` of charging (no refunds of cash).
- ``free``: nothing to pay (staff tests, a property's free hours).
"""

from __future__ import annotations

import math

from linli.contract.charger import DEFAULT_TIERS, DEFAULT_TOU, SHANGHAI, PowerTier, Tariff, TouBand

__all__ = ["DEFAULT_TIERS", "DEFAULT_TOU", "SHANGHAI", "PowerTier", "Tariff", "TouBand", "energy_cost_mfen",
           "seconds_affordable", "time_cost_fen"]


def time_cost_fen(tariff: Tariff, charged_s: float, max_power_w: float) -> int:
    """time_tiers: whole minutes started are billed (as meters of time are)."""
    tier = tariff.tier_for(max_power_w)
    minutes = math.ceil(max(0.0, charged_s) / 60 - 1e-9)
    return round(tier.yuan_per_hour * 100 * minutes / 60)


def energy_cost_mfen(tariff: Tariff, wh: float, when_epoch: float) -> float:
    """energy_tou: cost of ``wh`` drawn at ``when_epoch``, in milli-fen."""
    return wh / 1000 * tariff.kwh_price(when_epoch) * 100_000


def seconds_affordable(tariff: Tariff, fen: int, max_power_w: float) -> float:
    """time_tiers: how long ``fen`` lasts at the tier of ``max_power_w``."""
    per_hour = tariff.tier_for(max_power_w).yuan_per_hour * 100
    return math.inf if per_hour <= 0 else fen / per_hour * 3600
