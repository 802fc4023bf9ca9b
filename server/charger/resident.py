"""Charging paid by residents from their phone (扫码充电), the charger's part of it: whether a port can be paid for
(refused before payment when the pile is offline, in fault or the port busy), what it costs in plain words, the
start with the payment's order number (a repeated start starts nothing: the pile journals order numbers), the
pile's answer, and the settlement that refunds the unused prepay.

A paid start that fails is refunded in full: the pile refused it, or gave no answer within
``payments.start_timeout_s`` (the start command expires at that moment, so a late delivery cannot start it; a
``stop`` naming the order is sent as well, in case it did start).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from linli.contract import utcnow
from linli.contract.charger import Tariff
from server.audit import audit
from server.commands import effective_state, send_command
from server.db.models import Command, Device

from .models import ChargerOrder, ChargerTariff

if TYPE_CHECKING:
    from server.payments.models import PayOrder
    from server.payments.service import Payments
    from server.payments.settings import PaymentSettings

BUSY_STATES = ("authorised", "charging", "float")
FREE_STATES = ("idle", "plugged", "finished")
STOP_TTL_S = 60.0


def ports_of(dev: Device) -> int:
    g = dev.gauges or {}
    n = 0
    while f"p{n + 1}_state" in g:
        n += 1
    return n


def online(dev: Device, cfg: PaymentSettings) -> bool:
    seen = dev.last_seen
    return dev.state == "online" and seen is not None and utcnow() - seen <= timedelta(seconds=cfg.online_within_s)


def port_state(dev: Device, port: int) -> str | None:
    return (dev.gauges or {}).get(f"p{port}_state")


def why_not(s: Session, dev: Device, port: int, cfg: PaymentSettings) -> str | None:
    """The message key saying why this port cannot be paid for now, or None when it can."""
    g = dev.gauges or {}
    if not online(dev, cfg):
        return "pile_offline"
    if g.get("smoke"):
        return "pile_smoke"
    if g.get("mcu_ok") is False:
        return "pile_fault"
    state = port_state(dev, port)
    if state is None:
        return "pile_offline"
    if state == "fault":
        return "port_fault"
    if state in BUSY_STATES or _open_order(s, dev.id, port) is not None:
        return "port_busy"
    if state not in FREE_STATES:
        return "port_fault"
    return None


def _open_order(s: Session, device_id: int, port: int) -> PayOrder | None:
    from server.payments.models import PayOrder
    from server.payments.service import OPEN_STATES

    return s.scalars(select(PayOrder).where(PayOrder.device_id == device_id, PayOrder.port == port,
                                            PayOrder.purpose == "charge", PayOrder.state.in_(OPEN_STATES))
                     .limit(1)).first()


def tariff_for(s: Session, site: str, version: int | None = None) -> Tariff:
    """The site's tariff (the version a session ran under when given), else the piles' default."""
    q = select(ChargerTariff).where(ChargerTariff.site == site)
    if version is not None:
        row = s.scalars(q.where(ChargerTariff.version == version)).first()
        if row is not None:
            return Tariff.model_validate(row.body)
    row = s.scalars(q.order_by(ChargerTariff.version.desc()).limit(1)).first()
    return Tariff.model_validate(row.body) if row is not None else Tariff()


def prepay(tariff: Tariff, option: str, value: int, cfg: PaymentSettings) -> tuple[int, int]:
    """(fen paid in advance, minutes bought) for a choice; the unused part of the prepay is refunded.

    ``full``: the configured prepay, charging until full; ``amount``: ``value`` fen, until full or the money is
    used; ``duration``: ``value`` minutes, prepaid at the dearest rate the tariff has (time tiers: the top tier;
    energy: the configured full prepay), settled at what was really used."""
    if option == "full":
        return cfg.full_prepay_fen, 0
    if option == "amount":
        if value not in cfg.amounts_fen:
            raise ValueError("amount not offered")
        return value, 0
    if option == "duration":
        if value not in cfg.durations_min:
            raise ValueError("duration not offered")
        if tariff.mode == "time_tiers" and tariff.tiers:
            top = max(t.yuan_per_hour for t in tariff.tiers)
            return max(1, math.ceil(top * 100 * value / 60)), value
        return cfg.full_prepay_fen, value
    raise ValueError(f"unknown option {option!r}")


class ChargePurpose:
    """What a paid charging order does: start the port, follow it, refund the unused prepay at settlement."""

    def dispatch(self, pay: Payments, order: PayOrder) -> None:
        srv = pay.srv
        with srv.db.session() as s:
            dev = s.get(Device, order.device_id)
            if dev is not None:
                s.expunge(dev)
        if dev is None:
            pay.fail(order.id, "start_failed", "pile removed", order.amount_fen)
            return
        args = {"port": order.port, "prepaid_fen": order.amount_fen, "minutes": order.minutes,
                "order_id": order.out_trade_no, "user": f"pay:{order.provider}"}
        res = send_command(srv.db, srv.link, dev, "start", args, pay.cfg.start_timeout_s, "resident:pay",
                           srv.settings.commands.publish_wait_s)
        pay.set(order.id, state="starting", command_id=res.command.id, dispatched_at=utcnow())
        with srv.db.session() as s:
            audit(s, "resident:pay", "charger.start", dev.key, "ok", command=res.command.id, port=order.port,
                  order_id=order.out_trade_no, prepaid_fen=order.amount_fen, minutes=order.minutes,
                  published=res.published)

    def advance(self, pay: Payments, order: PayOrder) -> None:
        with pay.srv.db.session() as s:
            co = s.scalars(select(ChargerOrder).where(ChargerOrder.order_id == order.out_trade_no)).first()
            cmd = s.get(Command, order.command_id) if order.command_id else None
            co_state, co_refund = (co.state, co.refund_fen) if co is not None else (None, None)
            cmd_state = effective_state(cmd) if cmd is not None else None
            cmd_error = cmd.error if cmd is not None else None
        if order.state == "starting":
            if co_state is not None or cmd_state == "ok":
                pay.set(order.id, state="running")
            elif cmd_state == "error":
                pay.fail(order.id, "start_refused", cmd_error or "refused by the pile", order.amount_fen)
            elif cmd_state == "expired" or (order.dispatched_at is not None and utcnow() - order.dispatched_at
                                            > timedelta(seconds=pay.cfg.start_timeout_s + 2)):
                pay.fail(order.id, "no_answer", "the pile did not answer the start in time", order.amount_fen)
                self._stop(pay, order)
            if co_state != "settled":
                return
        if co_state == "settled":
            pay.set(order.id, state="done")
            pay.refund_due(order.id, min(co_refund or 0, order.amount_fen), "unused")

    def _stop(self, pay: Payments, order: PayOrder) -> None:
        """Belt and braces after a start that got no answer: stop the port if (and only if) it runs this order."""
        with pay.srv.db.session() as s:
            dev = s.get(Device, order.device_id)
            if dev is None:
                return
            s.expunge(dev)
        send_command(pay.srv.db, pay.srv.link, dev, "stop", {"port": order.port, "order_id": order.out_trade_no},
                     STOP_TTL_S, "resident:pay", pay.srv.settings.commands.publish_wait_s)


def stop(pay: Payments, order: PayOrder) -> bool:
    """The resident's stop button: stop the port if it runs this order (the pile checks the order number)."""
    with pay.srv.db.session() as s:
        dev = s.get(Device, order.device_id)
        if dev is None:
            return False
        s.expunge(dev)
    res = send_command(pay.srv.db, pay.srv.link, dev, "stop", {"port": order.port, "order_id": order.out_trade_no},
                       STOP_TTL_S, "resident:pay", pay.srv.settings.commands.publish_wait_s)
    with pay.srv.db.session() as s:
        audit(s, "resident:pay", "charger.stop", dev.key, "ok", command=res.command.id, port=order.port,
              order_id=order.out_trade_no, published=res.published)
    return res.published


def live(s: Session, order: PayOrder) -> dict[str, Any]:
    """What the resident's page shows while the order runs (from the pile's telemetry and its order)."""
    dev = s.get(Device, order.device_id)
    co = s.scalars(select(ChargerOrder).where(ChargerOrder.order_id == order.out_trade_no)).first()
    g = (dev.gauges or {}) if dev is not None else {}
    n = order.port
    state = g.get(f"p{n}_state")
    mine = co is not None and co.state == "running" and state in BUSY_STATES
    waiting = co is None and order.state in ("running",) and state == "authorised"
    return {
        "port_state": state, "mine": mine, "waiting_plug": waiting or (mine and state == "authorised"),
        "power_w": g.get(f"p{n}_w") if mine else None,
        "energy_wh": g.get(f"p{n}_wh") if mine else None,
        "charged_s": g.get(f"p{n}_s") if mine else None,
        "cost_fen": g.get(f"p{n}_fen") if mine else None,
        "gauges_at": dev.health_at if dev is not None else None,
        "settled": co is not None and co.state == "settled",
        "started_at": co.started_at if co is not None else None,
    }


def bill(s: Session, order: PayOrder) -> ChargerOrder | None:
    co = s.scalars(select(ChargerOrder).where(ChargerOrder.order_id == order.out_trade_no)).first()
    return co if co is not None and co.state == "settled" else None
