"""What the charger API and pages show and do: live port map, orders, daily energy and revenue, faults, remote
start/stop (audited), tariff versions pushed to the piles as desired config."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from ulid import ULID

from linli.contract import Kind, utcnow
from linli.contract.charger import SHANGHAI, Fault, Tariff
from server.api.deps import visible
from server.audit import audit
from server.auth import User
from server.commands import send_command, set_desired_config
from server.db.models import Device, Event

from .models import ChargerOrder, ChargerTariff

if TYPE_CHECKING:
    from server.app import Server

REMOTE_TTL_S = 60.0


def piles(s: Session, user: User) -> list[dict[str, Any]]:
    """Every charger the user may see, with its ports from the latest telemetry gauges."""
    out = []
    for dev in s.scalars(visible(select(Device).where(Device.kind == Kind.charger.value), user)
                         .order_by(Device.site, Device.device)):
        g = dev.gauges or {}
        ports = []
        n = 1
        while f"p{n}_state" in g:
            ports.append({"n": n, "state": g.get(f"p{n}_state"), "w": g.get(f"p{n}_w"), "wh": g.get(f"p{n}_wh")})
            n += 1
        out.append({"site": dev.site, "device": dev.device, "id": dev.id, "state": dev.state,
                    "last_seen": dev.last_seen, "gauges_at": dev.health_at, "ports": ports,
                    "pile_power_w": g.get("pile_power_w"), "meter_kwh": g.get("meter_kwh"),
                    "mcu_ok": g.get("mcu_ok"), "meter_ok": g.get("meter_ok"), "smoke": g.get("smoke"),
                    "tariff_version": g.get("tariff_version"), "settlements_pending": g.get("settlements_pending")})
    return out


def order_dict(o: ChargerOrder, dev: Device) -> dict[str, Any]:
    return {"order_id": o.order_id, "site": dev.site, "device": dev.device, "port": o.port, "source": o.source,
            "user": o.user, "mode": o.mode, "tariff_version": o.tariff_version, "state": o.state,
            "started_at": o.started_at, "ended_at": o.ended_at, "charged_s": o.charged_s, "energy_wh": o.energy_wh,
            "max_power_w": o.max_power_w, "tier_w": o.tier_w, "prepaid_fen": o.prepaid_fen,
            "amount_fen": o.amount_fen, "refund_fen": o.refund_fen, "stop_reason": o.stop_reason,
            "resumed": o.resumed, "settlements_received": o.settlements_received, "acks_sent": o.acks_sent,
            "requested_by": o.requested_by}


def orders(s: Session, user: User, site: str | None = None, device: str | None = None,
           limit: int = 100) -> list[dict[str, Any]]:
    q = visible(select(ChargerOrder, Device).join(Device, ChargerOrder.device_id == Device.id), user)
    if site:
        q = q.where(Device.site == site)
    if device:
        q = q.where(Device.device == device)
    rows = s.execute(q.order_by(ChargerOrder.started_at.desc(), ChargerOrder.id.desc()).limit(limit)).all()
    return [order_dict(o, d) for o, d in rows]


def daily(s: Session, user: User, days: int = 7, now: datetime | None = None) -> list[dict[str, Any]]:
    """Energy (kWh), revenue (元, net of refunds) and sessions per Asia/Shanghai day, newest first."""
    now = now or utcnow()
    since = now - timedelta(days=days)
    q = visible(select(ChargerOrder.ended_at, ChargerOrder.energy_wh, ChargerOrder.amount_fen)
                .join(Device, ChargerOrder.device_id == Device.id)
                .where(ChargerOrder.state == "settled", ChargerOrder.ended_at >= since), user)
    acc: dict[str, dict[str, float]] = defaultdict(lambda: {"kwh": 0.0, "yuan": 0.0, "sessions": 0})
    for ended, wh, fen in s.execute(q):
        day = ended.astimezone(SHANGHAI).date().isoformat()
        acc[day]["kwh"] += (wh or 0) / 1000
        acc[day]["yuan"] += (fen or 0) / 100
        acc[day]["sessions"] += 1
    today = now.astimezone(SHANGHAI).date()
    return [{"day": d, "kwh": round(acc[d]["kwh"], 3), "yuan": round(acc[d]["yuan"], 2),
             "sessions": int(acc[d]["sessions"])}
            for d in ((today - timedelta(days=i)).isoformat() for i in range(days))]


def totals(s: Session, user: User) -> dict[str, Any]:
    q = visible(select(func.count(), func.coalesce(func.sum(ChargerOrder.energy_wh), 0),
                       func.coalesce(func.sum(ChargerOrder.amount_fen), 0),
                       func.coalesce(func.sum(ChargerOrder.refund_fen), 0))
                .join(Device, ChargerOrder.device_id == Device.id).where(ChargerOrder.state == "settled"), user)
    n, wh, fen, refund = s.execute(q).one()
    running = s.scalar(visible(select(func.count()).select_from(ChargerOrder)
                               .join(Device, ChargerOrder.device_id == Device.id)
                               .where(ChargerOrder.state == "running"), user)) or 0
    return {"sessions": int(n), "kwh": round(float(wh) / 1000, 3), "yuan": round(float(fen) / 100, 2),
            "refund_yuan": round(float(refund) / 100, 2), "running": int(running)}


def faults(s: Session, user: User, limit: int = 30) -> list[tuple[Event, Device]]:
    q = visible(select(Event, Device).join(Device, Event.device_id == Device.id)
                .where(Device.kind == Kind.charger.value, Event.type == Fault.EVENT.type), user)
    return [(e, d) for e, d in s.execute(q.order_by(Event.ts.desc(), Event.id.desc()).limit(limit))]


# ---------------------------------------------------------------------- actions
def remote_start(srv: Server, user: User, dev: Device, port: int, prepaid_fen: int, minutes: int,
                 order_id: str | None = None) -> dict[str, Any]:
    """Send ``start`` with an order id (made here when the caller has none: a payment's id makes it idempotent)."""
    oid = order_id or f"R{ULID()}"
    args = {"port": port, "prepaid_fen": prepaid_fen, "minutes": minutes, "order_id": oid, "user": user.name}
    res = send_command(srv.db, srv.link, dev, "start", args, REMOTE_TTL_S, user.name,
                       srv.settings.commands.publish_wait_s)
    with srv.db.session() as s:
        audit(s, user.name, "charger.start", dev.key, "ok", command=res.command.id, port=port, order_id=oid,
              prepaid_fen=prepaid_fen, minutes=minutes, published=res.published)
    return {"command_id": res.command.id, "order_id": oid, "published": res.published}


def remote_stop(srv: Server, user: User, dev: Device, port: int, reason: str) -> dict[str, Any]:
    res = send_command(srv.db, srv.link, dev, "stop", {"port": port}, REMOTE_TTL_S, user.name,
                       srv.settings.commands.publish_wait_s)
    with srv.db.session() as s:
        audit(s, user.name, "charger.stop", dev.key, "ok", command=res.command.id, port=port, reason=reason,
              published=res.published)
    return {"command_id": res.command.id, "published": res.published}


def current_tariff(s: Session, site: str) -> ChargerTariff | None:
    return s.scalars(select(ChargerTariff).where(ChargerTariff.site == site)
                     .order_by(ChargerTariff.version.desc()).limit(1)).first()


def set_tariff(srv: Server, user: User, site: str, body: dict[str, Any]) -> dict[str, Any]:
    """Store a new tariff version for the site and push it to every pile there (retained desired config)."""
    with srv.db.session() as s:
        last = current_tariff(s, site)
        devs = list(s.scalars(select(Device).where(Device.site == site, Device.kind == Kind.charger.value)))
        # above both the site's last version and what the piles run (their file's tariff has a version too)
        version = max([last.version if last else 0,
                       *(int((d.gauges or {}).get("tariff_version") or 0) for d in devs)]) + 1
        tariff = Tariff.model_validate({**body, "version": version})  # raises ValueError with the reason
        row = ChargerTariff(site=site, version=version, body=tariff.model_dump(mode="json"), created_by=user.name,
                            created_at=utcnow())
        s.add(row)
        for d in devs:
            s.expunge(d)
        audit(s, user.name, "charger.tariff", site, "ok", version=version, tariff=row.body)
    pushed = []
    for d in devs:
        # the pile's other overrides (limits a maintainer set on its page) stay: only the tariff is replaced
        _, ok = set_desired_config(srv.db, srv.link, d, lambda cur: {**cur, "tariff": tariff.model_dump(mode="json")},
                                   user.name, srv.settings.commands.publish_wait_s)
        pushed.append({"device": d.device, "published": ok})
    return {"site": site, "version": version, "tariff": tariff.model_dump(mode="json"), "pushed": pushed}
